"""The `course` scale of Part III: how long to train each family of stand-in runs, and whether to make its digits
harder, by rules fixed before any calibration run was trained and before any verdict was seen, applied to short
calibration runs judged on a *validation* split (never on test).

The paper states no training length for any of its tables. Three families of runs make up Part III's `course`,
each the course preset of one chapter with the vanilla model:

- ``cifar10s``: K-T1's CIFAR-10S stand-in (the 8×8 digits in colour or grey, 95% skew; ResNet-8 of width 8 with
  two fully connected layers, random 1-px crops and flips), which K-T5, K-F13 and K-F5 share;
- ``colour_mnist``: K-T4's Colored-MNIST stand-in (the digits painted in ten colours, 95% and 98% skew; the MLP
  with three hidden layers of 100);
- ``celeba``: K-T3's CelebA stand-in (a binary digit target with colour or grey as the bias, skews 95% and 90%;
  the same MLP).

The measure is vanilla's final unbiased accuracy on the validation split (``VALIDATION_ACCURACY``: the accuracy
averaged over (class, bias value) cells, as the paper's tables report it): 20% of the training images held out
with the unbiased bias attribute (``skew_tasks.validation_source``). ``CALIBRATION_RUNS`` seeds per setting, the
settings of a family pooled.

1. **Training length**, per family: the shortest of ``LENGTHS`` (10, 20, 40, 80 epochs) whose mean final
   validation accuracy is within ``PLATEAU_MARGIN`` (1 point) of the best length's
   (``course_scale.shortest_on_plateau``). The course optimiser is SGD at a constant learning rate, so a length
   is only a number of epochs.
2. **Difficulty, only where a claim would lack errors.** Every Part III claim is about how methods treat
   bias-conflicting images, so it needs a vanilla model that errs on them. The skew that causes those errors is
   the paper's own in every stand-in, but a stand-in on which vanilla is far *more* accurate than the paper's
   vanilla leaves the methods little to correct. So, at the length rule 1 chose, a family's *deviation* is the
   mean over its settings and runs of (vanilla's validation accuracy − the paper's vanilla accuracy of the
   setting; ``paper_vanilla``: Table 1's mean on CIFAR-10S, Table 4's unbiased accuracies, Table 3's means). If
   it exceeds ``GATE`` (+10 points), the pixel-noise σ of ``NOISE_GRID`` (``skew_tasks.noisy_source``) whose
   deviation is closest to 0 (``course_scale.closest_to_target``) is kept, trained at that length, and rule 1 is
   applied again at that σ; otherwise there is no knob (σ = 0). The gate is one-sided: a stand-in *less*
   accurate than the paper's vanilla already makes the errors the claims need, and no knob makes 8×8 digits
   easier while keeping the task.
3. **Grids**: every course grid (λ, q, η, Filter-Drop's fraction, skews) is a subset of the `paper` preset's
   (checked by the tests).
4. **Runs**, set after rules 1–3 and before any verdict at the new number was seen: the most seeds per setting
   for which all of Part III's `course` fits its budget (``BUDGET_MINUTES``, 20 minutes on two idle cores) with
   a ``BUDGET_MARGIN`` of 15%, the time scaling with the number of runs from the time measured at
   ``CALIBRATION_RUNS`` seeds (``MEASURED_MINUTES``; every run of a chapter, its selection runs included, is per
   seed) — :func:`course_runs`. More seeds are what give the calibrated rules power (``book/verdicts.md``).

Ties go to the smaller σ and the shorter length. The runs are ordinary stored runs;
``benchmarks/kurmi_course_calibration.py`` trains them and writes what the rules chose to
``course_calibration.json``, which the course presets read and each chapter's page shows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ... import course_scale
from ...sweep import RunSpec
from .common import metric_column, run_task

__all__ = [
    "FAMILIES",
    "LENGTHS",
    "PLATEAU_MARGIN",
    "GATE",
    "NOISE_GRID",
    "CALIBRATION_RUNS",
    "BUDGET_MINUTES",
    "BUDGET_MARGIN",
    "MEASURED_MINUTES",
    "COURSE_RUNS",
    "course_runs",
    "VALIDATION_ACCURACY",
    "COURSE",
    "paper_vanilla",
    "calibration_specs",
    "choose_length",
    "deviations",
    "needs_knob",
    "choose_noise",
    "length_frame",
    "knob_frame",
    "noise_frame",
    "tables",
    "rule_text",
    "calibrate",
    "calibrate_family",
    "load_course",
]

FAMILIES = {"cifar10s": "K-T1", "colour_mnist": "K-T4", "celeba": "K-T3"}  # family → the chapter whose preset it is
LENGTHS = (10, 20, 40, 80)
PLATEAU_MARGIN = course_scale.PLATEAU_MARGIN
GATE = 0.10
NOISE_GRID = (0.0, 32.0, 64.0, 96.0, 128.0)
CALIBRATION_RUNS = 3  # seeds 0, 1, 2 per setting and length (rules 1 and 2)
BUDGET_MINUTES = 20.0  # all of Part III at `course`, on two idle cores (issue 13)
BUDGET_MARGIN = 0.15
MEASURED_MINUTES = 8.4  # all of Part III at `course` with CALIBRATION_RUNS seeds, empty store, two idle cores (README)
VALIDATION_ACCURACY = metric_column("none", "accuracy")
CALIBRATION_FILE = Path(__file__).with_name("course_calibration.json")


def _chapter(family: str):
    """The chapter whose course preset defines ``family`` (imported here: the chapters read this module)."""
    from . import t1, t3, t4

    return {"cifar10s": t1.CHAPTER, "colour_mnist": t4.CHAPTER, "celeba": t3.CHAPTER}[family]


def paper_vanilla(family: str) -> dict[str, float]:
    """{setting: the paper's vanilla accuracy in [0, 1]}, the number its table reports for the setting (rule 2's
    target)."""
    chapter = _chapter(family)
    config = chapter.configure("course")
    return {
        setting: chapter.paper_number("vanilla", setting, chapter.table_metric)[0] / 100
        for setting in chapter.settings(config)
    }


def calibration_specs(family: str, lengths=LENGTHS, noise: float = 0.0) -> list[RunSpec]:
    """Vanilla on the validation split of every setting of ``family``'s course preset, ``CALIBRATION_RUNS`` seeds,
    at each length (epochs) and the pixel-noise σ ``noise``; tagged ``family``, ``setting``, ``epochs``,
    ``noise``, ``run``."""
    chapter = _chapter(family)
    specs = []
    for epochs in lengths:
        config = chapter.configure("course", methods=["vanilla"], epochs=epochs)
        model, recipe = chapter.model_spec(config), chapter.recipe(config)
        method = chapter.method_spec("vanilla", None, config)
        for setting, task in chapter.settings(config).items():
            for run in range(CALIBRATION_RUNS):
                tags = {"family": family, "setting": setting, "epochs": epochs, "noise": noise, "run": run}
                validation = run_task(task.replace(noise=noise), run, "validation")
                specs.append(RunSpec(validation, model, recipe, seed=run, method=method, tags=tags))
    return specs


def _runs(frame: pd.DataFrame, by: str) -> dict:
    """``by``'s value → the runs' validation accuracies."""
    return {float(k): part[VALIDATION_ACCURACY].tolist() for k, part in frame.groupby(by)}


def choose_length(frame: pd.DataFrame) -> int:
    """Rule 1 on one family's runs at one σ (a results frame with the calibration tags)."""
    return int(course_scale.shortest_on_plateau(_runs(frame, "epochs"), PLATEAU_MARGIN))


def deviations(frame: pd.DataFrame, family: str) -> dict:
    """σ → per run and setting, vanilla's validation accuracy minus the paper's vanilla accuracy of the setting."""
    paper = paper_vanilla(family)
    shifted = frame.assign(deviation=frame[VALIDATION_ACCURACY] - frame["setting"].map(paper))
    return {float(k): part["deviation"].tolist() for k, part in shifted.groupby("noise")}


def needs_knob(frame: pd.DataFrame, family: str) -> bool:
    """Rule 2's gate: the family's mean deviation at σ = 0 (at rule 1's length) exceeds ``GATE``."""
    return float(np.mean(deviations(frame, family)[0.0])) > GATE


def choose_noise(frame: pd.DataFrame, family: str) -> float:
    """Rule 2: the σ whose mean deviation is closest to 0 (ties: the smaller σ)."""
    return float(course_scale.closest_to_target(deviations(frame, family), 0.0))


def course_runs(measured_minutes: float = MEASURED_MINUTES, at_runs: int = CALIBRATION_RUNS) -> int:
    """Rule 4: the most seeds per setting whose projected time, ``measured_minutes`` × runs / ``at_runs``, stays
    within ``BUDGET_MINUTES`` less ``BUDGET_MARGIN``; never fewer than ``at_runs``."""
    if measured_minutes <= 0:
        raise ValueError(f"measured_minutes must be > 0, got {measured_minutes}")
    allowed = BUDGET_MINUTES * (1 - BUDGET_MARGIN)
    return max(at_runs, int(np.floor(at_runs * allowed / measured_minutes)))


COURSE_RUNS = course_runs()


def _seconds_per_run_epoch(frame: pd.DataFrame) -> float:
    """Mean training seconds per run and epoch (a record's ``environment.seconds`` is its group's)."""
    per_run = frame["environment.seconds"] / frame["environment.runs_in_group"]
    return float((per_run / frame["epochs"]).mean())


def calibrate_family(family: str, results) -> dict:
    """Rules 1 and 2 for ``family``; ``results(specs)`` trains (or reads) calibration runs and returns their
    results frame with the specs' tags as columns. What is committed to ``course_calibration.json``."""
    first = results(calibration_specs(family))
    length = choose_length(first)
    at_length = first[first["epochs"] == length]
    means = at_length.groupby("setting")[VALIDATION_ACCURACY].mean()
    paper = paper_vanilla(family)
    gate = {
        "epochs": length,
        "deviation": float(np.mean(deviations(at_length, family)[0.0])),
        "settings": {s: [paper[s], float(means[s])] for s in paper},
    }
    out = {"gate": gate, "noise": 0.0, "epochs": length, "lengths": _runs(first, "epochs")}
    frames = [first]
    if needs_knob(at_length, family):
        knobs = [results(calibration_specs(family, [length], sigma)) for sigma in NOISE_GRID[1:]]
        tried = pd.concat([at_length, *knobs])
        out["noise_deviations"] = deviations(tried, family)
        out["noise"] = choose_noise(tried, family)
        final = results(calibration_specs(family, LENGTHS, out["noise"]))
        out.update(epochs=choose_length(final), lengths=_runs(final, "epochs"), lengths_without_noise=out["lengths"])
        frames += [*knobs, final]
    out["seconds_per_run_epoch"] = _seconds_per_run_epoch(pd.concat(frames))
    return out


def calibrate(results) -> dict:
    """Every family's calibration and the rules' constants (the content of ``course_calibration.json``)."""
    rules = {
        "lengths": list(LENGTHS),
        "margin": PLATEAU_MARGIN,
        "gate": GATE,
        "noise_grid": list(NOISE_GRID),
        "runs": CALIBRATION_RUNS,
    }
    return {"rules": rules, "families": {family: calibrate_family(family, results) for family in FAMILIES}}


def load_course() -> dict:
    """The committed calibration (``course_calibration.json``): per family its tables and choices, and the
    constants of the rules."""
    return json.loads(CALIBRATION_FILE.read_text())


def length_frame(family: str, without_noise: bool = False) -> pd.DataFrame:
    """Rule 1's table for a chapter's page: per length, vanilla's mean, lowest and highest validation accuracy
    at the chosen σ, ✓ on the chosen length; ``without_noise``: the table rule 1 read first, at σ = 0, where the
    gate then opened."""
    stored = load_course()["families"][family]
    table = stored["lengths_without_noise"] if without_noise else stored["lengths"]
    chosen = stored["gate"]["epochs"] if without_noise else stored["epochs"]
    return course_scale.calibration_frame(table, chosen, "epochs")


def knob_frame(family: str) -> pd.DataFrame:
    """Rule 2's gate for a chapter's page: per setting, the paper's vanilla accuracy, vanilla's mean validation
    accuracy at the length rule 1 chose without noise, and their difference; the last row their mean, which the
    gate compares with ``GATE``."""
    gate = load_course()["families"][family]["gate"]
    rows = [
        {"setting": setting, "paper's vanilla": paper, "vanilla (validation)": mine, "difference": mine - paper}
        for setting, (paper, mine) in gate["settings"].items()
    ]
    rows.append({"setting": "mean", "difference": gate["deviation"]})
    return pd.DataFrame(rows).set_index("setting")


def noise_frame(family: str) -> pd.DataFrame:
    """Rule 2's choice where the gate opened: per σ, the runs' mean, lowest and highest difference from the
    paper's vanilla accuracy, ✓ on the σ closest to it; empty where the gate stayed shut."""
    stored = load_course()["families"][family]
    rows = [
        {
            "σ": float(sigma),
            "mean difference from the paper's vanilla": float(np.mean(runs)),
            "lowest run": float(np.min(runs)),
            "highest run": float(np.max(runs)),
            "chosen": "✓" if float(sigma) == stored["noise"] else "",
        }
        for sigma, runs in sorted(stored.get("noise_deviations", {}).items(), key=lambda item: float(item[0]))
    ]
    return pd.DataFrame(rows).set_index("σ") if rows else pd.DataFrame()


def tables(family: str) -> list[pd.DataFrame]:
    """The tables a chapter's page shows for ``family``: rule 1's (and, where the gate opened, rule 1's without
    noise first), the gate's, and the noise rule's where the gate opened."""
    if load_course()["families"][family]["noise"] > 0:
        return [length_frame(family, without_noise=True), knob_frame(family), noise_frame(family), length_frame(family)]
    return [length_frame(family), knob_frame(family)]


def rule_text(family: str) -> str:
    """The rules and what they chose for ``family``, in one sentence, every number from the committed file."""
    stored = load_course()
    rules, chosen = stored["rules"], stored["families"][family]
    lengths = ", ".join(str(n) for n in rules["lengths"][:-1]) + f" and {rules['lengths'][-1]}"
    gate, limit = chosen["gate"], f"the gate of +{100 * rules['gate']:.0f} points"
    start = (
        f"Before any verdict was seen, the `course` training length was set to the shortest of {lengths} epochs "
        f"whose mean final validation accuracy of vanilla ({rules['runs']} seeds per setting) is within "
        f"{100 * rules['margin']:g} point of the best length's"
    )
    runs = (
        f" Each setting runs {COURSE_RUNS} seeds, the most for which all of Part III's `course` fits "
        f"{BUDGET_MINUTES:g} minutes on two idle cores with a {100 * BUDGET_MARGIN:g}% margin (it took "
        f"{MEASURED_MINUTES:g} minutes with {CALIBRATION_RUNS})."
    )
    if chosen["noise"] > 0:
        return (
            f"{start}; without noise that was {gate['epochs']} epochs, at which vanilla was "
            f"{100 * gate['deviation']:+.1f} points from the paper's vanilla accuracy on average, beyond {limit}, so "
            f"the digits get the pixel noise (σ on 0–255) whose accuracy comes closest to the paper's, "
            f"σ = {chosen['noise']:g}, and at that σ the rule gives {chosen['epochs']} epochs here.{runs}"
        )
    return (
        f"{start}: {chosen['epochs']} epochs here, at which vanilla is {100 * gate['deviation']:+.1f} points from "
        f"the paper's vanilla accuracy on average, within {limit}, so the digits get no pixel noise.{runs}"
    )


COURSE = (
    {
        key: value
        for family, stored in load_course()["families"].items()
        for key, value in ((f"epochs_{family}", stored["epochs"]), (f"noise_{family}", stored["noise"]))
    }
    if CALIBRATION_FILE.exists()
    else {}
)
