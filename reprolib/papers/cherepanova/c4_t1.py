"""C-4-T1 — Cherepanova (2023), thesis Table 4.1 and Fig. 4.3 (§4.4.1): mixup and CutMix against a patch backdoor.

Runs: every (defence, poisoned share, run) trains once. Run r's target class is a seeded draw (the thesis: "a
randomly selected target class") and its poisoned images, data order and initialisation are seeded by r, so the
defences are compared on paired runs: the same target, the same poisons, the same seed.

The trigger at ``course``. On the 8 × 8 digits (upscaled to 16 × 16) the thesis's patch, 4/32 of the image side,
does not take hold without a defence: a digit's shape is an easier cue for its class than a 2 × 2 corner, so the
claims about defences could not be judged. The course trigger is chosen by a rule fixed before the choice, on the
undefended baseline only (never on a defence's result): the smallest of ``TRIGGER_CANDIDATES`` (4/32, 8/32,
12/32, 16/32 of the side) whose undefended model, trained with the whole target class poisoned on the
``PILOT_RUNS`` (seeds 100–103, which the table never uses), sends on average more than half of the triggered test
images to the target class. The pilot's runs are part of every configuration (tag ``stage="pilot"``), so the
page recomputes the rule's choice (``pilot_choice``) beside the trigger it uses.

Strengths. Each augmentation's strength is chosen on a validation split by the rule of ``c4_protocol`` (fixed
before any run): here the defender simulates the backdoor — the chapter's trigger, every poisoned share of the
configuration — on 80% of the training images with target classes drawn from the validation seeds, and measures
clean accuracy and backdoor success on the held-out 20% patched (``PatchBackdoorTask(split="validation")``); the
attack measure the rule minimises is the success averaged over the validation runs and shares.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ... import params as P
from ... import verdicts as V
from ...chapter import run_ids
from ...figures import new_figure
from ...objectives import MultiClassCE
from ...sweep import RunSpec
from . import rules
from .backdoor import TRIGGER_FRACTION, PatchBackdoorTask, patch_side
from .c4_protocol import (
    DATA_PARAMETERS,
    NAMES,
    REFERENCE,
    SELECTION_PARAMETERS,
    SHARED_PRESETS,
    STRENGTHS,
    TRAINING_PARAMETERS,
    DefenceChapter,
    pct,
    plot_point,
)

__all__ = ["CherepanovaT41", "CHAPTER", "DEFENCES", "target_class", "TRIGGER_CANDIDATES", "PILOT_RUNS"]

DEFENCES = ("none", "mixup", "cutmix", "cutout", "kway_mixup")  # batch transforms of the recipe (§4.3)
NUM_CLASSES = 10  # the digits and CIFAR-10
MIXUP_TOLERANCE = 0.10  # "mixup fails": its success within ±10 points of no defence; fixed before any run
TRIGGER_CANDIDATES = (4 / 32, 8 / 32, 12 / 32, 16 / 32)  # the pilot's triggers, smallest (the thesis's) first
PILOT_RUNS = (100, 101, 102, 103)  # the pilot's seeds, disjoint from the table's runs 0, 1, …
PILOT_THRESHOLD = 0.5  # the rule: mean undefended success above one half


def share_label(share: float) -> str:
    return f"{share * 100:g}%"


def shares_of(config) -> list[str]:
    """The poisoned shares of ``config`` as labels, largest first (Table 4.1's order: 100%, then 10%)."""
    return [share_label(s) for s in sorted(config["poisoned_shares"], reverse=True)]


def target_class(run: int) -> int:
    """Run ``run``'s target class: a uniform draw from a generator seeded by the run."""
    return int(torch.randint(NUM_CLASSES, (1,), generator=torch.Generator().manual_seed(run)))


class CherepanovaT41(DefenceChapter):
    id = "C-4-T1"
    claim_rules = ("sign", "paired_better", "defence_fails")
    title = "Table 4.1: data augmentation against a patch backdoor"
    notebook = "cherepanova_c4_t1.md"
    presets = {
        "smoke": {
            "dataset": "digits",
            "size": 16,
            "defences": ["none", "mixup", "cutmix"],
            "poisoned_shares": [1.0, 0.1],
            "runs": 2,
            "epochs": 2,
            "trigger": 12 / 32,
            **SHARED_PRESETS["smoke"],
            "validation_runs": 1,
        },
        "course": {
            "dataset": "digits",
            "size": 16,
            "defences": ["none", "mixup", "cutmix", "cutout", "kway_mixup"],
            "poisoned_shares": [1.0, 0.1],
            "runs": 4,
            "epochs": 8,
            "trigger": 12 / 32,  # the pilot rule's choice (module docstring): 4/32 and 8/32 stay below one half
            **SHARED_PRESETS["course"],
            "validation_runs": 2,
        },
        "paper": {  # CIFAR-10, ResNet-18; the schedule of Geiping et al.'s framework (the thesis states none)
            "dataset": "cifar10",
            "size": 32,
            "defences": ["none", "mixup", "cutmix", "cutout", "kway_mixup"],
            "poisoned_shares": [1.0, 0.1],
            "runs": 4,
            "epochs": 40,
            "trigger": TRIGGER_FRACTION,  # the thesis's 4 × 4 patch
            **SHARED_PRESETS["paper"],
            "validation_runs": 4,
        },
    }
    parameters = {
        **DATA_PARAMETERS,
        "defences": P.choices(*DEFENCES),
        "poisoned_shares": P.numbers(0, 1, open_low=True, unique=True),
        **TRAINING_PARAMETERS,
        "trigger": P.number(0, 1, open_low=True),
        **SELECTION_PARAMETERS,
    }
    # Table 4.1 (ResNet-18 on CIFAR-10, 4 runs): defence → share → (poison success, clean validation accuracy), %
    paper = {
        "none": {"100%": (100, 85), "10%": (57, 94)},
        "mixup": {"100%": (100, 85), "10%": (42, 95)},
        "cutmix": {"100%": (36, 94), "10%": (23, 95)},
    }

    pilot_runs = PILOT_RUNS
    pilot_name = "trigger pilot"

    def validation_tasks(self, config, run: int) -> list[tuple]:
        """The backdoor at every poisoned share on held-out training images, the target class drawn by ``run``."""
        target = target_class(run)
        return [
            (
                PatchBackdoorTask(
                    config["dataset"], config["size"], share, target, run, config["trigger"], "validation"
                ),
                {"share": share_label(share), "target": target},
            )
            for share in config["poisoned_shares"]
        ]

    def table_specs(self, config, strengths):
        """The table's runs (tag ``stage="table"``), then the trigger pilot's (``stage="pilot"``): the undefended
        baseline at every candidate trigger, the whole target class poisoned, on ``PILOT_RUNS``."""
        model = self.model_spec(config)
        specs = []
        for defence in config["defences"]:
            if defence in STRENGTHS and strengths.get(defence) is None:
                continue  # its strength is not chosen yet
            transform, method = self.defence(config, defence, strengths.get(defence))
            recipe = self.recipe(config, transform)
            for share in config["poisoned_shares"]:
                for run in run_ids(config):
                    target = target_class(run)
                    task = PatchBackdoorTask(config["dataset"], config["size"], share, target, run, config["trigger"])
                    tags = {"stage": "table", "defence": defence, "share": share_label(share), "run": run}
                    specs.append(RunSpec(task, model, recipe, seed=run, method=method, tags={**tags, "target": target}))
        baseline = self.recipe(config, None)
        for trigger in TRIGGER_CANDIDATES:
            for run in PILOT_RUNS:
                task = PatchBackdoorTask(config["dataset"], config["size"], 1.0, target_class(run), run, trigger)
                tags = {"stage": "pilot", "defence": "none", "share": "100%", "run": run, "trigger": trigger}
                specs.append(RunSpec(task, model, baseline, seed=run, method=MultiClassCE(), tags=tags))
        return specs

    def pilot_table(self, results: pd.DataFrame, config) -> pd.DataFrame:
        """The trigger pilot: per candidate trigger, its patch side in pixels and the undefended baseline's mean
        success (%) over the pilot runs, and whether it passes the rule (> 50%)."""
        rows = []
        for trigger in TRIGGER_CANDIDATES:
            values = _pilot_success(results, trigger)
            mean = float(values.mean()) if len(values) else float("nan")
            rows.append(
                {
                    "trigger (share of side)": f"{round(trigger * 32)}/32",
                    "patch (pixels)": f"{patch_side(config['size'], trigger)} × {patch_side(config['size'], trigger)}",
                    "undefended success (%)": pct(values.to_numpy()),
                    "passes (> 50%)": bool(mean > PILOT_THRESHOLD) if len(values) else None,
                }
            )
        return pd.DataFrame(rows)

    def pilot_choice(self, results: pd.DataFrame) -> float | None:
        """The rule's trigger: the smallest candidate whose mean undefended pilot success exceeds one half (None
        if none does or the pilot has not run)."""
        for trigger in TRIGGER_CANDIDATES:
            values = _pilot_success(results, trigger)
            if len(values) and values.mean() > PILOT_THRESHOLD:
                return trigger
        return None

    # --- results ---------------------------------------------------------------------------------------------

    def per_run(self, results: pd.DataFrame, defence: str, share: str, metric: str) -> np.ndarray:
        """``metrics.<metric>`` of one (defence, share), ordered by run (paired across defences)."""
        if results.empty:
            return np.array([])
        table = results[results["stage"] == "table"]
        part = table[(table["defence"] == defence) & (table["share"] == share)].sort_values("run")
        return part[f"metrics.{metric}"].to_numpy(dtype=float)

    def table(self, results: pd.DataFrame, config) -> pd.DataFrame:
        """Table 4.1: per defence (at its strength chosen on validation) and poisoned share, the thesis's success
        and accuracy beside this run's (in %, mean ± 95% half-interval over runs)."""
        rows = []
        shares = shares_of(config)
        strengths = self.chosen(config, results)
        for defence in [*config["defences"], *[d for d in self.paper if d not in config["defences"]]]:
            row = {"defence": NAMES[defence], "strength": self.strength_label(defence, strengths.get(defence), config)}
            for share in shares:
                thesis = self.paper.get(defence, {}).get(share)
                for i, metric in enumerate(("success", "accuracy")):
                    row[f"{metric} {share} (thesis)"] = "—" if thesis is None else f"{thesis[i]}"
                    row[f"{metric} {share} (this run)"] = pct(self.per_run(results, defence, share, metric))
            rows.append(row)
        return pd.DataFrame(rows)

    def figure(self, results: pd.DataFrame, config):
        """Fig. 4.3 for the backdoor: poison success against clean accuracy, one point per defence (mean, 95%
        intervals on both axes), one panel per poisoned share; the thesis's Table 4.1 points hollow."""
        shares = shares_of(config)
        fig, axes = new_figure(len(shares))
        colours = dict(zip(DEFENCES, ("C0", "C1", "C2", "C3", "C4"), strict=True))
        for ax, share in zip(axes[0], shares, strict=True):
            for defence in config["defences"]:
                acc, success = (self.per_run(results, defence, share, m) for m in ("accuracy", "success"))
                if len(acc):
                    plot_point(ax, acc, success, fmt="o", color=colours[defence], label=NAMES[defence])
                thesis = self.paper.get(defence, {}).get(share)
                if thesis is not None:
                    ax.scatter(thesis[1], thesis[0], facecolors="none", edgecolors=colours[defence], s=60)
            ax.set(xlabel="clean accuracy (%)", ylabel="backdoor success (%)", title=f"{share} of the target class")
            ax.set_xlim(0, 102)
            ax.set_ylim(-3, 103)
        axes[0][0].legend(
            fontsize="small", title="filled: this run; hollow: thesis", title_fontsize="x-small", loc="lower left"
        )
        fig.tight_layout()
        return fig

    def examples_figure(self, config, per_row: int = 6):
        """What the model is trained and tested on: poisoned training images of run 0's target class, triggered
        test images of other classes, and a batch of half poisoned, half clean training images after each defence
        at the thesis's (or the reference) strength."""
        task = PatchBackdoorTask(config["dataset"], config["size"], 1.0, target_class(0), 0, config["trigger"]).build(
            None
        )
        poisoned = task.train.images[task.train.groups == 1][:per_row]
        other = (task.test.groups == 1) & (task.test.labels != task.info["target_class"])
        triggered = task.test.images[other][:per_row]
        half = per_row // 2
        batch = torch.cat([torch.nonzero(task.train.groups == 1)[:half], torch.nonzero(task.train.groups == 0)[:half]])
        x = task.train.images[batch.flatten()].float().div(255)[None]
        labels = task.train.labels[batch.flatten()][None]
        rows = {"poisoned (target class)": poisoned.float() / 255, "triggered (other classes)": triggered.float() / 255}
        for defence in config["defences"]:
            if defence in STRENGTHS:
                transform, _ = self.defence(config, defence, REFERENCE[STRENGTHS[defence]])
                rows[NAMES[defence]] = transform(x, labels, [torch.Generator().manual_seed(0)])[0][0]
        fig, axes = new_figure(per_row, len(rows), width=1.2, height=1.3)
        for r, (name, images) in enumerate(rows.items()):
            for c in range(per_row):
                ax = axes[r][c]
                if c < len(images):
                    ax.imshow(images[c].permute(1, 2, 0).squeeze(-1), cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
            axes[r][0].set_ylabel(name, rotation=0, ha="right", fontsize="small")
        fig.tight_layout()
        return fig

    def claims(self, results: pd.DataFrame, config) -> pd.DataFrame:
        """The thesis's claims on Table 4.1, judged by the calibrated rules of ``reprolib.verdicts`` on runs paired
        by run index (same target class, poisons and seed)."""
        shares = shares_of(config)
        values = {
            (d, s, m): self.per_run(results, d, s, m)
            for d in config["defences"]
            for s in shares
            for m in ("success", "accuracy")
        }

        def get(defence, share, metric):
            return values.get((defence, share, metric), np.array([]))

        def needs(*defences, share=None):
            missing = [d for d in defences if d not in config["defences"]]
            if share is not None and share not in shares:
                missing.append(f"poisoned share {share}")
            return V.not_run(f"needs {', '.join(missing)}") if missing else None

        works = needs("none", share="100%") or V.sign(get("none", "100%", "success") - 0.5, 1)
        rows = [
            ("Without a defence the backdoor succeeds on most triggered images (100% poisoned)", "100% success", works),
            (
                "CutMix lowers backdoor success",
                "100% → 36% (100% poisoned); 57% → 23% (10%)",
                needs("none", "cutmix")
                or V.paired_better(
                    {s: get("cutmix", s, "success") for s in shares},
                    {s: get("none", s, "success") for s in shares},
                    higher=False,
                ),
            ),
            (
                "CutMix raises clean accuracy when the whole target class is poisoned",
                "85% → 94% (100% poisoned)",
                needs("none", "cutmix", share="100%")
                or V.paired_better(
                    {"100%": get("cutmix", "100%", "accuracy")}, {"100%": get("none", "100%", "accuracy")}
                ),
            ),
            (
                f"mixup does not defend when the whole target class is poisoned (success within "
                f"±{MIXUP_TOLERANCE * 100:g} points of no defence)",
                "100% → 100% (100% poisoned)",
                needs("none", "mixup", share="100%")
                or rules.defence_fails(
                    get("none", "100%", "success"), get("mixup", "100%", "success"), MIXUP_TOLERANCE
                ),
            ),
        ]
        return pd.DataFrame(
            [{"claim": c, "paper": p, "measured": v.measured, "verdict": v.verdict} for c, p, v in rows],
            columns=["claim", "paper", "measured", "verdict"],
        )

    def summary(self, results: pd.DataFrame, config) -> dict[str, str]:
        """This run's mean success and accuracy per (defence, share): ``<defence>_<share>_<metric>`` (e.g.
        ``cutmix_100_success``), "not run" where no run is; the chosen strengths (``selection_summary``)."""
        out = self.selection_summary(config, results)
        for defence in DEFENCES:
            for share in (1.0, 0.1):
                for metric in ("success", "accuracy"):
                    v = self.per_run(results, defence, share_label(share), metric)
                    key = f"{defence}_{share * 100:g}_{metric}"
                    out[key] = f"{v.mean() * 100:.0f}%" if len(v) else "not run"
        side = patch_side(config["size"], config["trigger"])
        out["trigger"] = f"{config['trigger'] * 32:g}/32 of the side ({side} × {side} pixels at {config['size']})"
        choice = self.pilot_choice(results)
        out["pilot_choice"] = "none of the candidates" if choice is None else f"{choice * 32:g}/32 of the side"
        out["pilot_agrees"] = (
            "the trigger this page uses"
            if choice is not None and abs(choice - config["trigger"]) < 1e-12
            else "not the trigger this page uses: its table is at a trigger the rule did not pick"
        )
        return out


def _pilot_success(results: pd.DataFrame, trigger: float) -> pd.Series:
    """The pilot runs' success at one candidate trigger (empty without pilot runs)."""
    if results.empty or "trigger" not in results:
        return pd.Series([], dtype=float)
    pilot = results[(results["stage"] == "pilot") & np.isclose(results["trigger"].astype(float), trigger)]
    return pilot["metrics.success"].astype(float)


CHAPTER = CherepanovaT41()
