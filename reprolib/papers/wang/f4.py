"""W-F4 — Wang et al. (2019), §3 and Fig. 4: dataset leakage λ_D(a) against the F1 a of randomly perturbed labels.

Nothing here trains an image model: the attacker reads label vectors (``leakage.py``), a few hundred per split,
and trains in about a second, so the chapter computes its curve whenever its results are asked for and stores
nothing in the results store (``specs`` is empty). Every attacker seed is a cluster: it perturbs the labels and
initialises the attacker at every F1, so the trend is judged within seeds (``reprolib.verdicts.monotone``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import params as P
from ... import verdicts as V
from ...chapter import Chapter, run_ids
from ...figures import mean_band, new_figure
from ...metrics import mean_ci
from .leakage import balanced_indices, dataset_leakage
from .standin import CocoStandIn

CHANCE = 0.5
COCO_MISSING = (
    "COCO 2014 (people-only images, gender from captions) has no loader in this book yet; the stand-in is "
    "dataset='standin'"
)
# Table 1, COCO, "original" rows: λ_D = λ_D(1) and λ_D(F1) at the two models' F1 (in %); Fig. 4 gives no numbers
PAPER_POINTS = ((0.5252, 60.35), (0.5375, 60.53), (1.0, 67.72))
PAPER_TEXT = "COCO: λ_D(1) = 67.72 ± 0.31; λ_D(0.5252) = 60.35; λ_D(0.5375) = 60.53 (Table 1); Fig. 4"
COURSE_F1 = [0.3, 0.45, 0.6, 0.75, 0.9, 1.0]


class WangF4(Chapter):
    id = "W-F4"
    title = "Fig. 4: dataset leakage against the F1 of perturbed labels"
    notebook = "wang_f4.md"
    presets = {
        "smoke": {"dataset": "standin", "f1": [0.4, 0.7, 1.0], "runs": 2, "epochs": 5, "lr": 1e-3, "size": 400},
        "course": {"dataset": "standin", "f1": COURSE_F1, "runs": 5, "epochs": 100, "lr": 1e-3, "size": 1000},
        "paper": {
            "dataset": "coco",
            "f1": [0.25, 0.4, 0.55, 0.7, 0.85, 1.0],
            "runs": 5,
            "epochs": 100,
            "lr": 5e-5,
            "size": 22826,
        },
    }
    parameters = {
        "dataset": P.choice("standin", "coco"),
        "f1": P.numbers(0, 1, open_low=True, unique=True),
        "runs": P.integer(2, 100),
        "epochs": P.integer(1, 1000),
        "lr": P.number(0, 1, open_low=True),
        "size": P.integer(40, 100_000),
    }

    def specs(self, config):
        return []  # attackers on label vectors train in the chapter (module docstring)

    def task_spec(self, config) -> CocoStandIn:
        """The stand-in: ``size`` training canvases, 30% of that for validation and for test, seed 0."""
        held_out = max(20, round(0.3 * config["size"]))
        return CocoStandIn(n_train=config["size"], n_validation=held_out, n_test=held_out)

    def run(self, config, store=None, progress=False, **sweep_options) -> pd.DataFrame:
        """The same as ``results``: there is nothing to store (module docstring)."""
        return self.results(config)

    def results(self, config, store=None, specs=None) -> pd.DataFrame:
        """λ_D(a) per (F1 a, seed), computed now (in seconds; nothing is stored, so ``reprolib claims`` and the
        part's verdicts compute it too): one row each, columns f1, run, leakage, flipped (the share of training
        label entries flipped). Empty for ``dataset="coco"``."""
        if config["dataset"] == "coco":
            return pd.DataFrame(columns=["f1", "run", "leakage", "flipped"])
        task = self.task_spec(config).build()
        splits = {}
        for i, name in enumerate(("train", "validation", "test")):
            part = task.split(name)
            keep = balanced_indices(part.groups.numpy(), seed=i)
            splits[name] = (part.labels.numpy()[keep], part.groups.numpy()[keep])
        attacker = {"epochs": config["epochs"], "lr": config["lr"]}
        rows = []
        for a in config["f1"]:
            for run in run_ids(config):
                leakage, flipped = dataset_leakage(splits, a, run, **attacker)
                rows.append({"f1": a, "run": run, "leakage": leakage, "flipped": flipped})
        return pd.DataFrame(rows)

    def figure(self, results, config):
        """λ_D(a) against a, mean and 95% band over seeds; chance dotted; the paper's COCO points of Table 1."""
        fig, axes = new_figure(1, width=5.0, height=3.6)
        ax = axes[0, 0]
        if not results.empty:
            mean_band(ax, results, "f1", "leakage", label=f"this run ({config['dataset']}, {config['runs']} seeds)")
        x, y = zip(*PAPER_POINTS, strict=True)
        ax.scatter(x, np.array(y) / 100, marker="s", color="black", label="COCO, paper (Table 1)", zorder=3)
        ax.axhline(CHANCE, color="grey", linestyle=":", label="chance")
        ax.set(xlabel="F1 of the perturbed labels", ylabel="dataset leakage λ_D(F1)", xlim=(0, 1.05))
        ax.legend(fontsize=8)
        fig.tight_layout()
        return fig

    def claims(self, results, config):
        """Two claims. "Grows with F1": ``verdicts.monotone`` (direction +1) of λ_D over F1 with every seed a
        cluster — reproduced when the within-seed slope is significantly positive (one-sided, α = 0.05) and no
        step between adjacent F1 values falls significantly; "roughly linear" is shown, not tested, as the R²
        of a least-squares line through the means. "The labels leak g": ``verdicts.sign`` of λ_D(1) − ½ over
        seeds (reproduced when significantly above chance)."""
        linear = "dataset leakage grows roughly linearly with F1"
        leaks = "ground-truth labels leak the protected attribute (λ_D above chance)"
        if results.empty:
            why = COCO_MISSING if config["dataset"] == "coco" else "no results"
            rows = [(linear, PAPER_TEXT, V.not_run(why)), (leaks, "COCO: 67.72 ± 0.31", V.not_run(why))]
        else:
            trend = V.monotone(results["f1"], results["leakage"], results["run"], direction=1)
            means = results.groupby("f1")["leakage"].mean()
            r2 = _r_squared(means.index.to_numpy(), means.to_numpy())
            trend = V.Verdict(trend.verdict, f"{trend.measured}; line through the means: R² = {r2:.3f}")
            full = results.loc[np.isclose(results["f1"], 1.0), "leakage"] - CHANCE
            leak = V.sign(full, 1) if len(full) else V.not_run("F1 = 1 not in f1")
            leak = V.Verdict(leak.verdict, f"λ_D(1) − ½: {leak.measured}")
            rows = [(linear, PAPER_TEXT, trend), (leaks, "COCO: 67.72 ± 0.31", leak)]
        return pd.DataFrame(
            [{"claim": c, "paper": p, "measured": v.measured, "verdict": v.verdict} for c, p, v in rows]
        )

    def summary(self, results, config):
        """λ_D(1) and λ_D at the lowest F1 run (mean ± 95% half-interval, %), the slope and R² of a line through
        the means; "not run" without results."""
        if results.empty:
            return dict.fromkeys(("leak_full", "leak_low", "low_f1", "slope", "r2"), "not run")
        means = results.groupby("f1")["leakage"].mean()
        slope = np.polyfit(means.index.to_numpy(), means.to_numpy(), 1)[0]
        low = means.index.min()
        return {
            "leak_full": _pct(results.loc[np.isclose(results["f1"], 1.0), "leakage"]),
            "leak_low": _pct(results.loc[results["f1"] == low, "leakage"]),
            "low_f1": f"{low:g}",
            "slope": f"{slope * 100:.1f} points per unit of F1",
            "r2": f"{_r_squared(means.index.to_numpy(), means.to_numpy()):.3f}",
        }


def _r_squared(x, y) -> float:
    if len(x) < 3:
        return float("nan")
    fit = np.polyval(np.polyfit(x, y, 1), x)
    total = ((y - y.mean()) ** 2).sum()
    return float(1 - ((y - fit) ** 2).sum() / total) if total > 0 else float("nan")


def _pct(values) -> str:
    values = np.asarray(values, dtype=float) * 100
    if len(values) == 0:
        return "not run"
    mean, low, high = mean_ci(values)
    return f"{mean:.1f}% ± {(high - low) / 2:.1f}"


CHAPTER = WangF4()
