"""W-F4 — Wang et al. (2019), §3 and Fig. 4: dataset leakage λ_D(a) against the F1 a of randomly perturbed labels.

Nothing here trains an image model (``specs`` is empty): every point is a stored attacker on label vectors, the
artifact ``wang_dataset_leakage`` (``attackers.DatasetLeakage``), computed the first time the chapter runs and
read from the store afterwards. Every attacker seed is a cluster: it perturbs the labels, draws the balanced rows
and initialises the attacker at every F1, so the trend is judged within seeds (``reprolib.verdicts.monotone``).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ... import params as P
from ... import verdicts as V
from ...artifacts import artifact_key, artifact_store
from ...chapter import Chapter, run_ids
from ...figures import mean_band, new_figure
from ...metrics import mean_ci
from ...store import RESULTS_ONLY, current_store
from .attackers import DatasetLeakage, load_stored, stored_attackers
from .standin import CocoStandIn

CHANCE = 0.5
COCO_MISSING = (
    "W-F4 does not read COCO 2014 yet (W-T1, W-T2, W-T3, W-T45 and W-F67 do, task wang_coco); the stand-in is "
    "dataset='standin'"
)
# Table 1, COCO, "original" rows: λ_D = λ_D(1) and λ_D(F1) at the two models' F1 (in %); Fig. 4 gives no numbers
PAPER_POINTS = ((0.5252, 60.35), (0.5375, 60.53), (1.0, 67.72))
PAPER_TEXT = "COCO: λ_D(1) = 67.72 ± 0.31; λ_D(0.5252) = 60.35; λ_D(0.5375) = 60.53 (Table 1); Fig. 4"
COURSE_F1 = [0.3, 0.45, 0.6, 0.75, 0.9, 1.0]


class WangF4(Chapter):
    id = "W-F4"
    claim_rules = ("monotone", "sign")
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
        return []  # no image model: the attackers are artifacts (module docstring)

    def task_spec(self, config) -> CocoStandIn:
        """The stand-in: ``size`` training canvases, 30% of that for validation and for test, seed 0."""
        held_out = max(20, round(0.3 * config["size"]))
        return CocoStandIn(n_train=config["size"], n_validation=held_out, n_test=held_out)

    def attackers(self, config) -> list[DatasetLeakage]:
        """The stored attackers of ``config``: one per (F1 a, seed), in that order."""
        task = self.task_spec(config)
        return [
            DatasetLeakage(task=task, f1=a, seed=run, epochs=config["epochs"], lr=config["lr"])
            for a in config["f1"]
            for run in run_ids(config)
        ]

    def run(self, config, store=None, progress=True, **sweep_options) -> pd.DataFrame:
        """Compute the missing attackers (none while the book renders: then a page without them says how to
        compute them) and return the results."""
        if not os.environ.get(RESULTS_ONLY):
            return super().run(config, store, progress, **sweep_options)
        results = self.results(config, store)
        message = self.missing_message(config, store)
        if message:
            print(message)
        return results

    def stored_attackers(self, config, store=None) -> int:
        """How many attackers of ``config`` are in the store (none is computed); all of them on COCO, which has
        none to compute."""
        if config["dataset"] == "coco":
            return len(self.attackers(config))
        arts = artifact_store(store or current_store())
        return sum(arts.is_done(artifact_key(spec)) for spec in self.attackers(config))

    def has_results(self, config, store=None) -> bool:
        """Some attacker is stored (the book renders the page without them as its code, not run)."""
        return self.stored_attackers(config, store) > 0

    def missing_message(self, config, store=None, specs=None) -> str:
        """'' when every attacker of ``config`` is stored; otherwise how many are missing and what computes them."""
        total, stored = len(self.attackers(config)), self.stored_attackers(config, store)
        if stored == total:
            return ""
        return (
            f"results missing: {total - stored} of {total} attackers of {self.id} at preset {config['preset']} are "
            f"not in the results store; run `{self.rerun_command(config)}`"
        )

    def results(self, config, store=None, specs=None) -> pd.DataFrame:
        """λ_D(a) per (F1 a, seed), read from ``store`` (computed and stored there when missing): one row each,
        columns f1, run, leakage, flipped (the share of training label entries flipped). Empty for
        ``dataset="coco"``."""
        if config["dataset"] == "coco":
            return pd.DataFrame(columns=["f1", "run", "leakage", "flipped"])
        rows = []
        with stored_attackers(store or current_store()):
            for spec in self.attackers(config):
                loaded = load_stored(spec)
                if loaded is None:
                    continue
                arrays = loaded[0]
                leakage, flipped = float(arrays["accuracy"]), float(arrays["flipped"])
                rows.append({"f1": spec.f1, "run": spec.seed, "leakage": leakage, "flipped": flipped})
        return pd.DataFrame(rows, columns=["f1", "run", "leakage", "flipped"])

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
