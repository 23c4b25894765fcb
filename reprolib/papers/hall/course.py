"""The `course` scale of Part I: how long to train and how hard to make the 8×8 digits, by rules fixed before any
verdict was seen, applied to short calibration runs judged on a held-out *validation* split of the training
images (never on test).

The paper trains to convergence (500 epochs, §2.1) on data where a network makes errors: 96% accuracy of
recognising inversion on CIFAR-100 (footnote 1). The digits differ on both counts: 10 epochs stop early, in the
strongly amplifying phase (Fig. 8), and their uniform backgrounds make inversion, and a pair of digit classes,
almost perfectly recognisable, so claims that need errors (bias *dampening*: at η < ½ in RQ6, early in RQ5b)
cannot show. Three rules set the course:

1. **Group difficulty** (H-RQ5a, H-RQ5b: the CIFAR-100 runs of Figs. 8, 9): the share ``ambiguous`` of
   pre-inverted images (``tasks.preinvert``) on ``AMBIGUOUS_GRID`` whose mean validation accuracy of recognising
   inversion (the H-fn1 task: ``swap_roles``, ε = 0) is closest to ``TARGET_ACCURACY`` = 96%.
2. **Class difficulty** (H-RQ6: CIFAR-10 pairs at η = 0): the pixel-noise σ (``tasks.add_noise``) on
   ``NOISE_GRID`` whose mean validation accuracy at η = 0 (only the class image visible) is closest to 96%, the
   one recognition accuracy the paper states for natural images.
3. **Training length**, per family of runs: the shortest of ``LENGTHS`` whose mean final validation accuracy is
   within ``PLATEAU_MARGIN`` (1 point) of the best of all lengths — the paper's schedule (warm-up, ÷10 at ½ and
   ¾) at every length. Families: the inversion task at ε = 0.3 with ResNet-8 (H-RQ1, H-RQ2's base model, H-RQ3
   at p = 1 and /p beyond, H-RQ4, H-fn1); the same at the chosen ``ambiguous`` (H-RQ5a/b); the overlay at
   η = ½, ε = 0.3 at the chosen σ (H-RQ6).

Rules 1 and 2 train for ``KNOB_EPOCHS`` epochs; rule 3 then uses the knobs they chose. Ties go to the smaller
knob and the shorter length. ``CALIBRATION_RUNS`` runs per setting, ``VALIDATION_FRACTION`` of the training
images held out (stratified). The runs are ordinary stored runs; ``benchmarks/hall_course_calibration.py``
trains them and writes what the rules chose to ``course_calibration.json``, which the course presets read.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pandas as pd

from ... import course_scale
from ...course_scale import PLATEAU_MARGIN, shortest_on_plateau
from ...sweep import RunSpec
from .protocol import inversion_run, recipe_for

__all__ = [
    "TARGET_ACCURACY",
    "AMBIGUOUS_GRID",
    "NOISE_GRID",
    "LENGTHS",
    "PLATEAU_MARGIN",
    "closest_to_target",
    "shortest_on_plateau",
    "knob_specs",
    "length_specs",
    "choose",
    "calibration_frame",
    "COURSE",
]

TARGET_ACCURACY = 0.96  # Hall et al., footnote 1: inversion recognised with 96% accuracy on CIFAR-100
AMBIGUOUS_GRID = (0.0, 0.02, 0.04, 0.06, 0.08)
NOISE_GRID = (0.0, 48.0, 96.0, 144.0, 192.0)
LENGTHS = (10, 20, 40, 80)
KNOB_EPOCHS = 20
CALIBRATION_RUNS = 2
VALIDATION_FRACTION = 0.2
CALIBRATION_EPS = 0.3  # the middle of the paper's partly biased lines (0.2, 0.3, 0.4), RQ5's ε
MODEL, DATASET = "resnet8", "digits"
VALIDATION_ACCURACY = "split_metrics.validation.accuracy"
FAMILIES = ("inversion", "inversion_ambiguous", "overlay")
CALIBRATION_FILE = Path(__file__).with_name("course_calibration.json")


# Rules 1 and 2 aim at the paper's 96%; rule 3's margin is the core's one point (``course_scale``).
closest_to_target = functools.partial(course_scale.closest_to_target, target=TARGET_ACCURACY)


def _overlay_run(eta: float, eps: float, run: int, epochs: int, noise: float, **tags) -> RunSpec:
    from .rq6 import overlay_run  # rq6 reads this module's choices for its course preset

    return overlay_run(
        DATASET,
        MODEL,
        eta,
        eps,
        run,
        recipe_for(DATASET, epochs),
        noise=noise,
        validation_fraction=VALIDATION_FRACTION,
        **tags,
    )


def knob_specs() -> list[RunSpec]:
    """The runs of rules 1 and 2: every knob value, ``CALIBRATION_RUNS`` runs, ``KNOB_EPOCHS`` epochs."""
    recipe = recipe_for(DATASET, KNOB_EPOCHS)
    specs = [
        inversion_run(
            DATASET,
            MODEL,
            0.0,
            run,
            recipe,
            swap_roles=True,
            ambiguous=share,
            validation_fraction=VALIDATION_FRACTION,
            rule="ambiguous",
            knob=share,
        )
        for share in AMBIGUOUS_GRID
        for run in range(CALIBRATION_RUNS)
    ]
    specs += [
        _overlay_run(0.0, CALIBRATION_EPS, run, KNOB_EPOCHS, sigma, rule="noise", knob=sigma)
        for sigma in NOISE_GRID
        for run in range(CALIBRATION_RUNS)
    ]
    return specs


def length_specs(ambiguous: float, noise: float) -> list[RunSpec]:
    """The runs of rule 3 for the three families, at the knobs rules 1 and 2 chose."""
    specs = []
    for length in LENGTHS:
        recipe = recipe_for(DATASET, length)
        for run in range(CALIBRATION_RUNS):
            for family, share in (("inversion", 0.0), ("inversion_ambiguous", ambiguous)):
                specs.append(
                    inversion_run(
                        DATASET,
                        MODEL,
                        CALIBRATION_EPS,
                        run,
                        recipe,
                        ambiguous=share,
                        validation_fraction=VALIDATION_FRACTION,
                        rule="length",
                        family=family,
                        knob=length,
                    )
                )
            tags = {"rule": "length", "family": "overlay", "knob": length}
            specs.append(_overlay_run(0.5, CALIBRATION_EPS, run, length, noise, **tags))
    return specs


def _table(frame: pd.DataFrame) -> dict:
    """knob value → the runs' validation accuracies, from a results frame of one rule's runs."""
    return {float(k): part[VALIDATION_ACCURACY].tolist() for k, part in frame.groupby("knob")}


def choose(knob_frame: pd.DataFrame, length_frame: pd.DataFrame | None = None) -> dict:
    """What the rules choose from the calibration runs' results (tags ``rule``, ``knob``, ``family``): the
    tables of mean validation accuracies and the chosen ``ambiguous``, ``noise`` and length per family."""
    tables = {rule: _table(knob_frame[knob_frame["rule"] == rule]) for rule in ("ambiguous", "noise")}
    chosen = {rule: closest_to_target(table) for rule, table in tables.items()}
    out = {"tables": tables, "chosen": chosen}
    if length_frame is not None:
        lengths = {f: _table(length_frame[length_frame["family"] == f]) for f in FAMILIES}
        out["tables"].update({f"length_{f}": table for f, table in lengths.items()})
        out["chosen"].update({f"epochs_{f}": int(shortest_on_plateau(table)) for f, table in lengths.items()})
    return out


RULE_OF_TABLE = {
    "ambiguous": ("share of pre-inverted images", "ambiguous"),
    "noise": ("pixel-noise σ", "noise"),
    **{f"length_{f}": ("epochs", f"epochs_{f}") for f in FAMILIES},
}


def calibration_frame(table: str) -> pd.DataFrame:
    """One committed calibration table for a chapter's page: per knob value, the calibration runs' mean and
    range of validation accuracy, and which value the rule chose (``table``: ``ambiguous``, ``noise`` or
    ``length_<family>``)."""
    stored = load_course()
    label, choice = RULE_OF_TABLE[table]
    return course_scale.calibration_frame(stored["tables"][table], stored["chosen"][choice], label)


def load_course() -> dict:
    """The committed choices of the rules (``course_calibration.json``)."""
    return json.loads(CALIBRATION_FILE.read_text())


COURSE = load_course()["chosen"] if CALIBRATION_FILE.exists() else {}
