"""What C-4-T1 and C-4-T2 share (Cherepanova 2023, thesis ch. 4): the training schedule, the defences at a
strength, each augmentation's strength chosen on a validation split, and the two-stage run that trains the
validation runs before the table's.

The schedule. SGD with Nesterov momentum 0.9, weight decay 5·10⁻⁴, lr ÷ 10 after 14, 24 and 35 of 40 epochs
(scaled to ``epochs``): the schedule of Geiping et al.'s poisoning framework, on which the thesis's experiments
build (the thesis states none).

The defences (§4.3). mixup, 4-way mixup and CutMix have a strength α (λ ~ Beta(α, α), or Dirichlet(α·1₄)
weights), the thesis's α = 1. cutout and MaxUp over m = 4 cutouts have a strength the thesis does not state: the
side of the black square as a share of the image side, DeVries & Taylor's ½ the reference. DP-SGD's noise is not
a strength to choose: its two levels (clip 1, noise 0.01 and 0.05) are Table 4.2's rows.

Choosing the strengths (this book's rule, fixed and committed before any of its runs; the thesis gives its
strengths and says nothing of how they were chosen). Every augmentation gets a grid of the same number of
candidates (the chapter parameters ``alphas`` for mixup, 4-way mixup and CutMix, ``cutout_sides`` for cutout and
MaxUp-cutout; at ``course`` and ``paper`` α ∈ {¼, 1, 4} and the side ∈ {¼, ½, ¾}, each containing the thesis's or
the reference value), so every augmentation has the same budget. Each candidate, and the undefended baseline,
trains ``validation_runs`` runs on *validation tasks*: 80% of the training images, on which the defender simulates
the threat (the chapter says how: C-4-T1 the backdoor at every poisoned share, C-4-T2 the basic Witches' Brew
attack), with targets drawn from seeds ``first_run + 200 + v``, disjoint from the table's runs and from the
pilots'; each is evaluated on the held-out 20% of the training images (``tasks.validation_source``), never on the
test set nor on a test target. Then, with means over the validation runs:

1. a candidate is *admissible* when its clean validation accuracy is at most ``ACCURACY_MARGIN`` (2 points) below
   the undefended baseline's;
2. among the admissible, the one with the lowest validation attack success is chosen (C-4-T2, whose success is 0
   or 1 per target: ties broken by the lower mean probability of the adversarial class), then the higher clean
   validation accuracy, then the first in the grid;
3. if none is admissible, the candidate with the highest clean validation accuracy.

The table's runs then train at the chosen strength; a grid of one value is used as it is, with no validation
runs. A choice is made only when every validation run of the augmentation and of the baseline is stored, so it
never changes as runs arrive: ``run`` trains the validation stage, then the table's runs; until then ``specs``
leaves the augmentation's table runs out (a launcher, which trains what ``specs`` lists, needs ``reprolib run``
twice). No choice is ever revised after a test result.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import pandas as pd

from ... import params as P
from ...chapter import Chapter, run_ids
from ...metrics import mean_ci
from ...models import parse_model
from ...objectives import MultiClassCE
from ...specs import MethodSpec, TransformSpec
from ...store import RESULTS_ONLY, current_store, using_store
from ...sweep import RunSpec, run_sweep
from ...training import Recipe
from .methods import DPSGD, MaxUp
from .transforms import CutMix, Cutout, KWayMixup, Mixup

__all__ = [
    "DefenceChapter",
    "defence",
    "choose",
    "cutout_pixels",
    "NAMES",
    "STRENGTHS",
    "REFERENCE",
    "ACCURACY_MARGIN",
    "VALIDATION_OFFSET",
    "validation_ids",
    "pct",
    "SHARED_PRESETS",
    "DATA_PARAMETERS",
    "TRAINING_PARAMETERS",
    "SELECTION_PARAMETERS",
]

NAMES = {
    "none": "Baseline",
    "dp_0.01": "DP-SGD, 0.01",
    "dp_0.05": "DP-SGD, 0.05",
    "mixup": "mixup",
    "kway_mixup": "mixup (4-way)",
    "cutmix": "CutMix",
    "cutout": "cutout",
    "maxup_cutout": "MaxUp-cutout",
}
STRENGTHS = {  # augmentation → the chapter parameter holding its grid of strengths
    "mixup": "alphas",
    "kway_mixup": "alphas",
    "cutmix": "alphas",
    "cutout": "cutout_sides",
    "maxup_cutout": "cutout_sides",
}
REFERENCE = {"alphas": 1.0, "cutout_sides": 0.5}  # the thesis's α (§4.3); DeVries & Taylor's half side
DP_NOISE = {"dp_0.01": 0.01, "dp_0.05": 0.05}  # Table 4.2's rows, clipped to norm 1
MAXUP_COPIES = 4  # "MaxUp-cutout": the worst of four cutouts (§4.4.2)
KWAY = 4  # "mixup (4-way)"
ACCURACY_MARGIN = 0.02  # "small accuracy cost": at most 2 points below the baseline; fixed before any run
VALIDATION_OFFSET = 200  # validation run v is seeded by first_run + 200 + v
SOURCE_SIDES = {"digits": 8, "cifar10": 32}  # the sources' image sides: ``size`` is a multiple


SHARED_PRESETS = {  # per preset, what both chapters train with, and the candidate strengths: as many for every
    # augmentation, each grid holding the REFERENCE value; ``paper``: ResNet-18 on CIFAR-10 as Geiping et al.'s
    # framework trains it (the thesis states no schedule)
    "smoke": {
        **{"lr": 0.05, "batch_size": 64, "augment": "none", "model": "mlp", "width": 32},
        **{"alphas": [0.5, 1.0], "cutout_sides": [0.25, 0.5]},
    },
    "course": {
        **{"lr": 0.05, "batch_size": 64, "augment": "none", "model": "resnet8", "width": 8},
        **{"alphas": [0.25, 1.0, 4.0], "cutout_sides": [0.25, 0.5, 0.75]},
    },
    "paper": {
        **{"lr": 0.1, "batch_size": 128, "augment": "pad_crop_flip", "model": "resnet18", "width": 64},
        **{"alphas": [0.25, 1.0, 4.0], "cutout_sides": [0.25, 0.5, 0.75]},
    },
}
DATA_PARAMETERS = {"dataset": P.choice("digits", "cifar10"), "size": P.choice(8, 16, 32, 64)}
TRAINING_PARAMETERS = {
    "runs": P.integer(1, 100),
    "epochs": P.integer(1),
    "lr": P.number(0, 10, open_low=True),
    "batch_size": P.integer(1, 4096),
    "augment": P.choice("none", "pad_crop_flip"),
    "model": P.model(allowed=("mlp", "resnet8", "resnet20", "resnet18")),
    "width": P.integer(4, 512),
}
SELECTION_PARAMETERS = {
    "alphas": P.numbers(0, 100, open_low=True, unique=True),
    "cutout_sides": P.numbers(0, 1, open_low=True, unique=True),
    "validation_runs": P.integer(1, 100),
}


def cutout_pixels(share: float, side: int) -> int:
    """The side in pixels of a cutout square that is ``share`` of the image side: rounded, at least 1."""
    return max(1, round(share * side))


def defence(
    name: str, strength: float | None, side: int, dp_per: str = "batch"
) -> tuple[TransformSpec | None, MethodSpec]:
    """The defence ``name`` at ``strength`` (α, or the cutout side as a share of ``side``) on images of side
    ``side``: its batch transform (None: none) and its training method (§4.3; Table 4.2's DP-SGD rows, clipped
    ``dp_per`` batch or sample: ``methods``)."""
    ce = MultiClassCE()
    if name == "none":
        return None, ce
    if name in DP_NOISE:
        return None, DPSGD(clip=1.0, noise=DP_NOISE[name], per=dp_per)
    if name == "mixup":
        return Mixup(alpha=strength), ce
    if name == "kway_mixup":
        return KWayMixup(k=KWAY, alpha=strength), ce
    if name == "cutmix":
        return CutMix(alpha=strength), ce
    square = Cutout(size=cutout_pixels(strength, side))
    if name == "cutout":
        return square, ce
    if name == "maxup_cutout":
        return None, MaxUp(m=MAXUP_COPIES, transform=square)
    raise ValueError(f"defence must be one of {', '.join(NAMES)}, got {name!r}")


def choose(candidates: pd.DataFrame, baseline_accuracy: float, attack, margin: float = ACCURACY_MARGIN) -> float:
    """The rule of the module docstring on one augmentation's ``candidates``: one row per strength, in grid order,
    with its mean clean validation ``accuracy`` and its mean attack measures ``attack`` (column names, lower is
    better, the first decisive). Returns the chosen strength."""
    ordered = candidates.assign(grid_order=np.arange(len(candidates)))
    admissible = ordered[ordered["accuracy"] >= baseline_accuracy - margin - 1e-12]
    if admissible.empty:
        ranked = ordered.sort_values(["accuracy", "grid_order"], ascending=[False, True])
    else:
        keys = [*attack, "accuracy", "grid_order"]
        ranked = admissible.sort_values(keys, ascending=[True] * len(attack) + [False, True])
    return float(ranked["strength"].iloc[0])


def validation_ids(config) -> range:
    """The validation runs of ``config``: ``validation_runs`` seeds from ``first_run`` + ``VALIDATION_OFFSET``,
    clear of the table's runs (at most 100) and of the pilots' seeds (100–105)."""
    first = (config.get("first_run") or 0) + VALIDATION_OFFSET
    return range(first, first + config["validation_runs"])


def pct(values) -> str:
    """Mean ± 95% half-interval of fractions, in %; "not run" for none."""
    if len(values) == 0:
        return "not run"
    mean, low, high = mean_ci(np.asarray(values) * 100)
    return f"{mean:.1f} ± {(high - low) / 2:.1f}"


def plot_point(ax, accuracy, success, **style) -> None:
    """One defence in Fig. 4.3's plane: mean success against mean clean accuracy (fractions, drawn in %), with
    95% intervals on both axes."""
    (ma, la, ha), (ms, ls, hs) = mean_ci(np.asarray(accuracy) * 100), mean_ci(np.asarray(success) * 100)
    ax.errorbar(ma, ms, xerr=[[ma - la], [ha - ma]], yerr=[[max(ms - ls, 0)], [max(hs - ms, 0)]], capsize=3, **style)


def _mean(values) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def _reading(method):
    """``method(self, config, store, …)`` with ``store`` as the current store, so that ``specs`` reads the
    validation runs, and the strengths chosen from them, where the results are read."""

    @functools.wraps(method)
    def wrapped(self, config, store=None, *args, **kwargs):
        with using_store(store or current_store()):
            return method(self, config, store, *args, **kwargs)

    return wrapped


class DefenceChapter(Chapter):
    """A chapter of thesis ch. 4: defences trained against a threat, every augmentation at the strength chosen on
    validation (module docstring). A subclass gives its ``validation_tasks`` and its ``table_specs``, the seed of
    a run's victim (``victim_seed``) and the attack measures the rule minimises (``selection_metrics``)."""

    selection_metrics: tuple[str, ...] = ("success",)
    pilot_runs: tuple[int, ...] = ()
    pilot_name = "pilot"

    def uses_pilot(self, config) -> bool:
        return True

    def check(self, config):
        side = SOURCE_SIDES[config["dataset"]]
        if config["size"] % side:
            raise P.ParameterError(f"size must be a multiple of {side} for {config['dataset']}, got {config['size']}")
        if len(config["alphas"]) != len(config["cutout_sides"]):
            raise P.ParameterError(
                f"cutout_sides must have as many values as alphas (the same selection budget for every "
                f"augmentation), got {len(config['cutout_sides'])} and {len(config['alphas'])}"
            )
        runs = run_ids(config)
        if self.uses_pilot(config) and set(runs) & set(self.pilot_runs):
            raise P.ParameterError(
                f"first_run must keep the runs clear of the {self.pilot_name}'s seeds "
                f"{self.pilot_runs[0]}–{self.pilot_runs[-1]}, got runs {runs.start}–{runs.stop - 1}"
            )

    def recipe(self, config, transform: TransformSpec | None) -> Recipe:
        """Geiping et al.'s schedule (module docstring), scaled to ``epochs``; ``transform`` the batch transform."""
        return Recipe(
            epochs=config["epochs"],
            batch_size=config["batch_size"],
            lr=config["lr"],
            momentum=0.9,
            nesterov=True,
            weight_decay=5e-4,
            lr_drops=(14 / 40, 24 / 40, 35 / 40),
            augment=config["augment"],
            batch_transform=transform,
        )

    def model_spec(self, config):
        name = config["model"]
        spec = parse_model(name)
        return spec.replace(hidden=config["width"], depth=2) if name == "mlp" else spec.replace(width=config["width"])

    def defence(self, config, name: str, strength: float | None = None):
        """(batch transform, method) of defence ``name`` at ``strength`` on this configuration's images."""
        return defence(name, strength, config["size"], config.get("dp_per", "batch"))

    def victim_seed(self, run: int) -> int:
        return run

    # --- the validation stage --------------------------------------------------------------------------------

    def grid(self, name: str, config) -> list[float]:
        """The candidate strengths of defence ``name`` ([] for one without a strength)."""
        return list(config[STRENGTHS[name]]) if name in STRENGTHS else []

    def tuned(self, config) -> list[str]:
        """The defences of ``config`` whose strength is chosen on validation (a grid of more than one value)."""
        return [d for d in config["defences"] if len(self.grid(d, config)) > 1]

    def validation_tasks(self, config, run: int) -> list[tuple]:
        """(task, tags) of validation run ``run``: the threat simulated on held-out training images."""
        raise NotImplementedError

    def validation_specs(self, config) -> list[RunSpec]:
        """The baseline and every candidate strength of every tuned augmentation on every validation run (tag
        ``stage="validation"``); none when nothing is tuned."""
        tuned = self.tuned(config)
        if not tuned:
            return []
        model = self.model_spec(config)
        specs = []
        for name, strength in [("none", None), *((d, s) for d in tuned for s in self.grid(d, config))]:
            transform, method = self.defence(config, name, strength)
            recipe = self.recipe(config, transform)
            for run in validation_ids(config):
                for task, tags in self.validation_tasks(config, run):
                    tags = {"stage": "validation", "defence": name, "strength": strength, "run": run, **tags}
                    specs.append(RunSpec(task, model, recipe, self.victim_seed(run), method=method, tags=tags))
        return specs

    def candidates(self, config, results: pd.DataFrame | None = None) -> pd.DataFrame:
        """One row per validation candidate (the baseline first, then per tuned augmentation its grid in order):
        ``defence``, ``strength``, ``stored`` and ``expected`` runs, and the values over its stored validation
        runs of ``accuracy`` and of every attack measure; read from ``results`` (its ``stage="validation"``
        rows), or from the current store."""
        specs = self.validation_specs(config)
        if not specs:
            return pd.DataFrame(columns=["defence", "strength", "stored", "expected", "accuracy"])
        if results is None:
            frame = Chapter.results(self, config, current_store(), specs)
        else:
            frame = results[results["stage"] == "validation"] if "stage" in results else results.iloc[:0]
        measures = ["accuracy", *self.selection_metrics]
        rows = []
        for name, strength in dict.fromkeys((s.tags["defence"], s.tags["strength"]) for s in specs):
            expected = sum(s.tags["defence"] == name and s.tags["strength"] == strength for s in specs)
            part = frame if frame.empty else frame[frame["defence"] == name]
            if not part.empty:
                values = part["strength"].astype(float)
                part = part[values.isna()] if strength is None else part[np.isclose(values, strength)]
            row = {"defence": name, "strength": strength, "stored": len(part), "expected": expected}
            for m in measures:
                row[m] = part[f"metrics.{m}"].to_numpy(dtype=float) if len(part) else np.array([])
            rows.append(row)
        return pd.DataFrame(rows)

    def chosen(self, config, results: pd.DataFrame | None = None) -> dict[str, float | None]:
        """Per defence of ``config`` with a strength: the strength its table runs train at — the grid's only
        value, or the rule's choice once every validation run it needs is stored (None until then); from
        ``results`` or the current store (``candidates``)."""
        out = {d: self.grid(d, config)[0] for d in config["defences"] if len(self.grid(d, config)) == 1}
        tuned = self.tuned(config)
        if not tuned:
            return out
        table = self.candidates(config, results)
        complete = table["stored"] == table["expected"]
        means = table.assign(**{m: table[m].map(_mean) for m in ["accuracy", *self.selection_metrics]})
        baseline = means[means["defence"] == "none"]
        for name in tuned:
            rows = means[means["defence"] == name]
            ready = bool(complete[baseline.index].all() and complete[rows.index].all())
            out[name] = choose(rows, float(baseline["accuracy"].iloc[0]), self.selection_metrics) if ready else None
        return out

    def strength_label(self, name: str, strength: float | None, config) -> str:
        if strength is None:
            return "—"
        if STRENGTHS.get(name) == "alphas":
            return f"α = {strength:g}"
        return f"{strength:g} of the side ({cutout_pixels(strength, config['size'])} px)"

    def selection_table(self, config, results: pd.DataFrame | None = None) -> pd.DataFrame:
        """The validation stage as the page shows it: per candidate (the baseline first), its mean clean
        validation accuracy and attack measures (%, mean ± 95% half-interval over its validation runs), the
        accuracy's change from the baseline, whether it is admissible (within the margin) and which is chosen."""
        table = self.candidates(config, results)
        if table.empty:
            return pd.DataFrame(columns=["defence", "strength", "validation runs"])
        chosen = self.chosen(config, results)
        baseline = table[table["defence"] == "none"]["accuracy"].iloc[0]
        rows = []
        for _, row in table.iterrows():
            name, strength = row["defence"], row["strength"]
            strength = None if strength is None or pd.isna(strength) else float(strength)
            done = row["stored"] == row["expected"]
            out = {
                "defence": NAMES[name],
                "strength": self.strength_label(name, strength, config),
                "validation runs": f"{row['stored']} of {row['expected']}",
                "clean accuracy (%)": pct(row["accuracy"]),
            }
            for m in self.selection_metrics:
                out[f"{m.replace('_', ' ')} (%)"] = pct(row[m])
            change = None
            if len(row["accuracy"]) and len(baseline):
                change = (row["accuracy"].mean() - baseline.mean()) * 100
            out["accuracy change (points)"] = "—" if change is None or name == "none" else f"{change:+.1f}"
            admissible = change is not None and change >= -ACCURACY_MARGIN * 100 - 1e-9
            out["admissible"] = "—" if name == "none" or not done else ("yes" if admissible else "no")
            picked = chosen.get(name)
            out["chosen"] = "—" if name == "none" else ("✓" if picked is not None and picked == strength else "")
            rows.append(out)
        return pd.DataFrame(rows)

    # --- the table's runs and the two-stage run ----------------------------------------------------------

    def table_specs(self, config, strengths: dict[str, float | None]) -> list[RunSpec]:
        """The table's runs (and a pilot's), every tuned augmentation at ``strengths`` (left out where None)."""
        raise NotImplementedError

    def specs(self, config):
        """The validation runs, then the table's at the strengths chosen from the stored validation runs (module
        docstring: an augmentation whose choice is not made yet has no table runs)."""
        return [*self.validation_specs(config), *self.table_specs(config, self.chosen(config))]

    def run(self, config, store=None, progress=True, **sweep_options):
        """Train the validation runs that are missing, then the table's at the strengths chosen from them; return
        the results. With ``$REPROLIB_RESULTS_ONLY`` set, train nothing (``Chapter.run``)."""
        store = store or current_store()
        with using_store(store):
            if os.environ.get(RESULTS_ONLY):
                return super().run(config, store, progress, **sweep_options)
            options = {"device": config["device"], "progress": progress, **sweep_options}
            run_sweep(self.validation_specs(config), store, **options)
            run_sweep(self.table_specs(config, self.chosen(config)), store, **options)
            return Chapter.results(self, config, store, self.specs(config))

    results = _reading(Chapter.results)
    has_results = _reading(Chapter.has_results)
    missing_message = _reading(Chapter.missing_message)
    failure_message = _reading(Chapter.failure_message)

    def selection_summary(self, config, results: pd.DataFrame | None = None) -> dict[str, str]:
        """The narrative's values of the validation stage: ``strength_<defence>`` (the chosen strength, or why
        there is none), ``margin`` and ``validation_runs``."""
        out = {"margin": f"{ACCURACY_MARGIN * 100:g} points", "validation_runs": str(config["validation_runs"])}
        chosen = self.chosen(config, results)
        for name in NAMES:
            if name in STRENGTHS:
                value = chosen.get(name)
                missing = "not chosen yet" if name in config["defences"] else "not run"
                out[f"strength_{name}"] = missing if value is None else self.strength_label(name, value, config)
        return out
