"""H-RQ5a and H-RQ5b — Hall et al. (2022), RQ5 and Figs. 8, 9: bias amplification during training.

Every run records its test metrics after every epoch (``RunSpec(curves=True)``). H-RQ5a is the inversion task
at ε = 0.3 (Fig. 8); H-RQ5b swaps the roles of class and group (Fig. 9): the class is whether the image is
inverted, the group is the binary object label.

The claims compare per-run means over windows of epochs, fixed before any result was seen:

- *early*: the first 10% of the epochs (at least one); *late*: the last 10%;
- *before the first drop*: the 10% of the epochs just before the first learning-rate drop;
- around a drop: the 5% of the epochs (at least one) just before it against the 5% just after it.

In both roles the bias-aligned cells are (t = 1, a = 0) and (t = 0, a = 1): positives are rarely inverted
(rate ½ − ε), so in H-RQ5a class 1 is mostly in group 0, and in H-RQ5b the inverted class 1 mostly holds
negative objects (group 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ... import claims as C
from ... import params as P
from ... import verdicts as V
from ...chapter import Chapter, run_ids
from ...figures import mean_band, new_figure
from .course import COURSE
from .protocol import DISPLAY, PROTOCOL, PROTOCOL_PARAMETERS, inversion_run, mean_text, model_for, recipe_for

EARLY_FRACTION = 0.1
DROP_WINDOW_FRACTION = 0.05
ALIGNED = ("t1_a0", "t0_a1")
CONFLICTING = ("t1_a1", "t0_a0")
CELLS = ("t1_a0", "t0_a1", "t1_a1", "t0_a0")


@dataclass(frozen=True)
class Windows:
    """Epoch windows (1-based epoch numbers, as recorded in the curves) of one training schedule."""

    early: list[int]
    late: list[int]
    before_first_drop: list[int]
    drops: list[int]  # the first epoch trained at each lowered learning rate
    width: int  # epochs compared on each side of a drop

    def around(self, drop: int) -> tuple[list[int], list[int]]:
        return list(range(drop - self.width, drop)), list(range(drop, drop + self.width))


def schedule_windows(epochs, lrs) -> Windows:
    """The windows of a schedule given its per-epoch learning rates (a drop is an epoch whose lr is lower
    than the previous epoch's; the warm-up's rise is not one)."""
    epochs, lrs = list(epochs), list(lrs)
    n = len(epochs)
    span, width = max(1, round(EARLY_FRACTION * n)), max(1, round(DROP_WINDOW_FRACTION * n))
    drops = [epochs[i] for i in range(1, n) if lrs[i] < lrs[i - 1]]
    before = [e for e in epochs if drops[0] - span <= e < drops[0]] if drops else epochs[-span:]
    return Windows(epochs[:span], epochs[-span:], before, drops, width)


def curves_frame(results: pd.DataFrame) -> pd.DataFrame:
    """The per-epoch test metrics of every run as one long table: run, epoch, lr, bias_amplification,
    accuracy, and one column per class×group cell (``t{class}_a{group}``)."""
    rows = [
        {
            "run": run,
            "epoch": point["epoch"],
            "lr": point["lr"],
            "bias_amplification": point["bias_amplification"],
            "accuracy": point["accuracy"],
            **point.get("cell_accuracy", {}),
        }
        for run, curve in zip(results["run"], results["curves"], strict=True)
        for point in curve
    ]
    return pd.DataFrame(rows)


def window_mean(curves: pd.DataFrame, column: str | tuple[str, ...], epochs: list[int]) -> pd.Series:
    """Per run: the mean of ``column`` (or of the mean of several columns) over ``epochs``."""
    columns = [column] if isinstance(column, str) else list(column)
    part = curves[curves["epoch"].isin(epochs)]
    return part[columns].mean(axis=1).groupby(part["run"]).mean()


class HallRQ5(Chapter):
    # course: ``ambiguous`` (inversion recognised with ~96% accuracy, as on CIFAR-100) and the epochs are what
    # the rules of ``course`` chose on validation runs.
    presets = {
        "smoke": {"dataset": "digits", "model": "resnet8", "eps": 0.3, "runs": 2, "epochs": 4, "ambiguous": 0.0},
        "course": {
            "dataset": "digits",
            "model": "resnet8",
            "eps": 0.3,
            "runs": 8,
            "epochs": COURSE.get("epochs_inversion_ambiguous", 40),
            "ambiguous": COURSE.get("ambiguous", 0.0),
        },
        "paper": {"dataset": "cifar100", "model": "resnet110", "eps": 0.3, "runs": 50, "epochs": 500, "ambiguous": 0.0},
    }
    presets = {name: {**preset, **PROTOCOL} for name, preset in presets.items()}
    parameters = {
        "dataset": P.choice(*DISPLAY),
        "model": P.model(),
        "eps": P.number(0, 0.5),
        "runs": P.integer(1, 1000),
        "epochs": P.integer(1),
        "ambiguous": P.number(0, 0.5),
        **PROTOCOL_PARAMETERS,
    }

    def __init__(self, swap_roles: bool):
        self.swap_roles = swap_roles
        suffix = "b" if swap_roles else "a"
        self.id, self.notebook = f"H-RQ5{suffix}", f"hall_rq5{suffix}.md"
        self.claim_rules = ("negative", "positive") if swap_roles else ("positive",)
        if swap_roles:
            self.title = "RQ5b: bias amplification during training, roles swapped (Fig. 9)"
            classes, groups = {1: "inverted", 0: "original"}, {1: "positive objects", 0: "negative objects"}
        else:
            self.title = "RQ5a: bias amplification during training (Fig. 8)"
            classes, groups = {1: "positive", 0: "negative"}, {1: "inverted", 0: "original"}
        self.cell_labels = {
            f"t{t}_a{a}": f"{classes[t]}, {groups[a]}" + (" (bias-aligned)" if f"t{t}_a{a}" in ALIGNED else "")
            for t, a in ((1, 0), (0, 1), (1, 1), (0, 0))
        }

    def specs(self, config):
        dataset = config["dataset"]
        recipe = recipe_for(dataset, config["epochs"], config)
        model = model_for(config["model"], dataset)
        return [
            inversion_run(
                dataset,
                model,
                config["eps"],
                run,
                recipe,
                curves=True,
                swap_roles=self.swap_roles,
                config=config,
                ambiguous=config["ambiguous"],
            )
            for run in run_ids(config)
        ]

    def figure(self, results, config):
        """Left: mean BiasAmp (left axis) and test accuracy (right axis) per epoch with 95% bands; right: the
        accuracy of every class×group cell. Dashed lines: the learning-rate drops (Figs. 8 and 9)."""
        curves = curves_frame(results) if not results.empty else pd.DataFrame()
        fig, axes = new_figure(2, width=5.2, height=3.6)
        left, right = axes[0]
        accuracy_axis = left.twinx()
        if not curves.empty:
            mean_band(left, curves, "epoch", "bias_amplification", label="BiasAmp", color="C0", marker=None)
            mean_band(accuracy_axis, curves, "epoch", "accuracy", label="test accuracy", color="C1", marker=None)
            colours = dict(zip(CELLS, ("C2", "C0", "C3", "C1"), strict=True))
            for cell, label in self.cell_labels.items():
                if cell in curves and curves[cell].notna().any():
                    mean_band(right, curves, "epoch", cell, label=label, color=colours[cell], marker=None)
            for drop in _windows_of(curves).drops:
                for ax in (left, right):
                    ax.axvline(drop - 1, color="grey", linestyle="--", linewidth=0.8)
        left.axhline(0, color="grey", linewidth=0.8, linestyle=":")
        name = f"{model_for(config['model'], config['dataset'])} on {DISPLAY[config['dataset']]}, ε = {config['eps']:g}"
        left.set(xlabel="epoch", ylabel=r"BiasAmp$_{A\rightarrow T}$", title=name)
        accuracy_axis.set_ylabel("test accuracy")
        right.set(xlabel="epoch", ylabel="test accuracy per class × group", title="accuracy per cell")
        handles = [h for ax in (left, accuracy_axis) for h in ax.get_legend_handles_labels()[0]]
        if handles:
            left.legend(handles=handles, loc="center right")
            right.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        return fig

    def summary(self, results, config):
        """Mean test accuracy (%) after the first epoch and after the last, ``first_epoch_accuracy`` and
        ``final_accuracy``."""
        curves = curves_frame(results) if not results.empty else pd.DataFrame({"epoch": [], "accuracy": []})
        return {
            "first_epoch_accuracy": mean_text(curves.loc[curves["epoch"] == 1, "accuracy"]),
            "final_accuracy": mean_text(curves.loc[curves["epoch"] == config["epochs"], "accuracy"]),
        }

    def claims(self, results, config):
        curves = curves_frame(results) if not results.empty else pd.DataFrame()
        return C.claims_frame(swapped_claims(curves) if self.swap_roles else inversion_claims(curves, config["eps"]))


def _windows_of(curves: pd.DataFrame) -> Windows:
    first = curves[curves["run"] == curves["run"].iloc[0]].sort_values("epoch")
    return schedule_windows(first["epoch"], first["lr"])


def inversion_claims(curves: pd.DataFrame, eps: float) -> list[C.Claim]:
    """Fig. 8's claims, each a per-run difference of window means (one value per run: the runs are independent)
    tested with ``verdicts.positive`` — a one-sided t-test over runs per setting (per drop for claim 2), combined
    over the drops by ``verdicts.combine``:

    1. BiasAmp is largest early and declines: early − before the first lr drop > 0.
    2. BiasAmp ticks up at each lr drop: after − before > 0 at every drop.
    3. It "increases again slightly in the final stages of training, in particular, after the learning rate is
       decreased to its smallest value": late − the window before the last drop > 0.
    4. Bias-aligned cells are learned first: early accuracy of aligned − conflicting cells > 0.
    5. The conflicting cells catch up: (aligned − conflicting) early − (aligned − conflicting) late > 0.
    """
    texts = [
        ("BiasAmp is largest early and declines while the learning rate is high", "early peak, then decline"),
        ("BiasAmp ticks up at each learning-rate drop", "up after every drop"),
        ("BiasAmp rises again in the final stage, after the last drop", "increases again slightly at the end"),
        ("bias-aligned cells are learned first (early accuracy gap > 0)", "aligned cells learned first"),
        ("the conflicting cells catch up (the accuracy gap shrinks)", "conflicting cells rise gradually"),
    ]
    if curves.empty:
        return [C.not_run(claim, paper, "no runs") for claim, paper in texts]
    w = _windows_of(curves)
    bias = "bias_amplification"
    rows = [
        C.judged(*texts[0], V.positive({"early − before 1st drop": _diff(curves, bias, w.early, w.before_first_drop)})),
        C.judged(*texts[1], V.positive({f"drop after epoch {d - 1}": _tick(curves, w, d) for d in w.drops}))
        if w.drops
        else C.not_run(*texts[1], "no learning-rate drop in the schedule"),
        C.judged(*texts[2], V.positive({"late − before last drop": _final_rise(curves, w)}))
        if w.drops
        else C.not_run(*texts[2], "no learning-rate drop in the schedule"),
    ]
    if not 0 < eps < 0.5 or not set(CELLS) <= set(curves):
        why = "no bias-aligned and conflicting cells at this ε"
        return rows + [C.not_run(claim, paper, why) for claim, paper in texts[3:]]
    gap_early = window_mean(curves, ALIGNED, w.early) - window_mean(curves, CONFLICTING, w.early)
    gap_late = window_mean(curves, ALIGNED, w.late) - window_mean(curves, CONFLICTING, w.late)
    rows.append(C.judged(*texts[3], V.positive({"aligned − conflicting, early": gap_early.to_numpy()})))
    rows.append(C.judged(*texts[4], V.positive({"gap early − gap late": (gap_early - gap_late).to_numpy()})))
    return rows


def swapped_claims(curves: pd.DataFrame) -> list[C.Claim]:
    """Fig. 9's claims (roles swapped), with the windows of ``inversion_claims``, each on one value per run:

    1. "bias is dampened in the early stages of training": the early mean BiasAmp < 0 (``verdicts.negative``).
    2. "This bias dampening largely disappears in the later stages": more than half of the early dampening is
       gone late, late − ½·early > 0 (``verdicts.positive``; early < 0, so this says |late| < ½·|early| or
       late ≥ 0).
    3. "the model latches onto the easy-to-extract class membership signal first" (Fig. 9, right): early, the
       bias-conflicting cells are predicted from the class, not the group — their early accuracy − ½ > 0
       (``verdicts.positive``; a model that predicts by the group gets them wrong, as in Fig. 8's early phase).
    """
    texts = [
        ("bias is dampened early in training (BiasAmp < 0)", "< 0 early"),
        ("the dampening largely disappears later (late > ½ · early)", "largely disappears later"),
        ("the class is learned first: conflicting cells are right early (accuracy > ½)", "class signal first"),
    ]
    if curves.empty:
        return [C.not_run(claim, paper, "no runs") for claim, paper in texts]
    w = _windows_of(curves)
    early = window_mean(curves, "bias_amplification", w.early)
    late = window_mean(curves, "bias_amplification", w.late)
    rows = [
        C.judged(*texts[0], V.negative({"early": early.to_numpy()})),
        C.judged(*texts[1], V.positive({"late − ½·early": (late - early / 2).to_numpy()})),
    ]
    if not set(CELLS) <= set(curves):
        return rows + [C.not_run(*texts[2], "no bias-aligned and conflicting cells")]
    conflicting = window_mean(curves, CONFLICTING, w.early)
    return rows + [C.judged(*texts[2], V.positive({"conflicting cells early − ½": (conflicting - 0.5).to_numpy()}))]


def _final_rise(curves: pd.DataFrame, w: Windows) -> np.ndarray:
    """Per run: mean BiasAmp over the last 10% of the epochs minus over the epochs just before the last drop."""
    return _diff(curves, "bias_amplification", w.late, w.around(w.drops[-1])[0])


def _tick(curves: pd.DataFrame, w: Windows, drop: int) -> np.ndarray:
    """Per run: mean BiasAmp over the epochs just after ``drop`` minus over those just before it."""
    before, after = w.around(drop)
    return _diff(curves, "bias_amplification", after, before)


def _diff(curves: pd.DataFrame, column: str, minuend: list[int], subtrahend: list[int]) -> np.ndarray:
    """Per run: mean of ``column`` over the ``minuend`` epochs minus its mean over the ``subtrahend`` epochs."""
    return (window_mean(curves, column, minuend) - window_mean(curves, column, subtrahend)).to_numpy()


RQ5A = HallRQ5(swap_roles=False)
RQ5B = HallRQ5(swap_roles=True)
