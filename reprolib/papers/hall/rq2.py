"""H-RQ2 — Hall et al. (2022), RQ2 and Fig. 3: bias amplification and accuracy vs model capacity.

Three sweeps around one base model, each varying one knob with the other two at the base value: depth (the
CIFAR ResNet's 6n+2), width (channels of the first stage) and weight decay. The base point belongs to all three
sweeps and is trained once. A weight-decay sweep is one multi-run model per chunk of runs: weight decay is a
per-run tensor in the trainer, so its points train together.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import claims as C
from ... import params as P
from ... import verdicts as V
from ...chapter import Chapter, run_ids
from ...figures import mean_band, new_figure
from ...models import CIFAR_DEPTHS, parse_model
from ...params import ParameterError
from ...sweep import RunSpec
from .course import COURSE
from .protocol import DISPLAY, PAPER_PROTOCOL, PROTOCOL, PROTOCOL_PARAMETERS, inversion_run, mean_text, recipe_for

__all__ = [
    "HallRQ2",
    "CHAPTER",
    "KNOBS",
    "capacity_specs",
    "knob_rows",
    "base_point",
    "partly_biased",
    "eps_lines",
    "curves",
]

KNOBS = ("depth", "width", "weight_decay")
KNOB_LABEL = {"depth": "depth", "width": "width", "weight_decay": "weight decay"}

# Weight decay, "logarithmically spaced … between 1e-5 and 1e-2" (§2.2): the authors' grid np.logspace(-5, -2, 8)
# (cifar100_regularization configs), which holds the paper's two optima, 1.93e-4 (best accuracy) and 5.18e-4
# (least BiasAmp). Written to three significant digits so that equal values always give equal store keys. The
# course takes every other point from 1e-5 (the grid's steps are 3/7 of a decade).
PAPER_WEIGHT_DECAYS = [float(f"{v:.3g}") for v in np.logspace(-5, -2, 8)]
COURSE_WEIGHT_DECAYS = PAPER_WEIGHT_DECAYS[::2]
PAPER_OPTIMA = {"accuracy": 1.93e-4, "bias_amplification": 5.18e-4}  # "1.9·10⁻⁴", "5.2·10⁻⁴"
# Depths "between 8 and 110": the authors' DEPTHS (cifar100 configs).
PAPER_DEPTHS = [8, 14, 20, 26, 32, 38, 44, 50, 56, 74, 92, 110]


DEPTHS = P.integers(8, 110, CIFAR_DEPTHS, "6n+2 between 8 and 110 (8, 14, 20, …, 110)")


def base_point(config: dict) -> tuple[int, int, float]:
    """(depth, width, weight decay) of the base model."""
    return parse_model(config["model"]).depth, config["width"], config["weight_decay"]


def capacity_points(config: dict) -> list[tuple[int, int, float]]:
    """Every (depth, width, weight decay) of the three sweeps, each once, the base point first."""
    depth, width, decay = base_point(config)
    points = [(depth, width, decay)]
    points += [(d, width, decay) for d in config["depths"]]
    points += [(depth, w, decay) for w in config["widths"]]
    points += [(depth, width, wd) for wd in config["weight_decays"]]
    return list(dict.fromkeys(points))


def capacity_specs(config: dict) -> list[RunSpec]:
    """One run per (capacity point, ε, run), tagged with its depth, width and weight decay."""
    dataset, specs = config["dataset"], []
    for depth, width, decay in capacity_points(config):
        recipe = recipe_for(dataset, config["epochs"], config, weight_decay=decay)
        for eps in config["eps"]:
            for run in run_ids(config):
                spec = inversion_run(dataset, f"resnet{depth}", eps, run, recipe, width=width, config=config)
                specs.append(spec.with_tags(depth=depth, width=width, weight_decay=decay))
    return specs


def knob_rows(results: pd.DataFrame, config: dict, knob: str) -> pd.DataFrame:
    """The runs of one sweep: ``knob`` varies, the other two knobs sit at the base value."""
    if results.empty:
        return results
    base = dict(zip(KNOBS, base_point(config), strict=True))
    values = {"depth": config["depths"], "width": config["widths"], "weight_decay": config["weight_decays"]}[knob]
    mask = results[knob].isin(values)
    for other in KNOBS:
        if other != knob:
            mask &= np.isclose(results[other].astype(float), base[other])
    return results[mask]


def partly_biased(frame: pd.DataFrame) -> pd.DataFrame:
    """Runs with 0 < ε < ½: the claims pool these (no bias to amplify at 0, none left to amplify at ½)."""
    return frame[(frame["eps"] > 0) & (frame["eps"] < 0.5)] if not frame.empty else frame


def format_decay(value: float) -> str:
    return f"{value:.3g}"


def knob_axis(ax, knob: str, values) -> None:
    if knob == "weight_decay":
        ax.set_xscale("log")
    elif knob == "width":
        ax.set_xscale("log", base=2)
        ax.set_xticks(values, [str(v) for v in values])
        ax.minorticks_off()
    else:
        ax.set_xticks(values)


class HallRQ2(Chapter):
    id = "H-RQ2"
    claim_rules = ("interior_optimum", "monotone", "optima_order")
    title = "RQ2: bias amplification and accuracy vs model capacity (Fig. 3)"
    notebook = "hall_rq2.md"
    presets = {
        "smoke": {
            "dataset": "digits",
            "model": "resnet8",
            "width": 8,
            "weight_decay": 1e-4,
            "depths": [8, 14],
            "widths": [4, 8],
            "weight_decays": [1e-4, 1e-2],
            "eps": [0.3],
            "runs": 2,
            "epochs": 1,
        },
        # course: subsets of the paper's grids and of its ε lines, sized to the course budget; epochs by the rule
        # of ``course`` (validation plateau of the base model).
        "course": {
            "dataset": "digits",
            "model": "resnet8",
            "width": 16,
            "weight_decay": 1e-4,
            "depths": [8, 14, 20],
            "widths": [4, 8, 16],
            "weight_decays": COURSE_WEIGHT_DECAYS,
            "eps": [0.3],
            "runs": 4,
            "epochs": COURSE.get("epochs_inversion", 10),
        },
        "paper": {
            **PAPER_PROTOCOL,
            "width": 16,
            "weight_decay": 1e-4,
            "depths": PAPER_DEPTHS,
            "widths": [4, 8, 16, 32, 64],
            "weight_decays": PAPER_WEIGHT_DECAYS,
        },
    }
    presets = {name: {**preset, **PROTOCOL} for name, preset in presets.items()}
    parameters = {
        "dataset": P.choice(*DISPLAY),
        "model": P.model(),
        "width": P.integer(1, 64),
        "weight_decay": P.number(0, 0.1, open_low=True),
        "depths": DEPTHS,
        "widths": P.integers(4, 64),
        "weight_decays": P.numbers(0, 0.1, open_low=True, unique=True),
        "eps": P.numbers(0, 0.5),
        "runs": P.integer(1, 1000),
        "epochs": P.integer(1),
        **PROTOCOL_PARAMETERS,
    }

    def check(self, config):
        if parse_model(config["model"]).name != "resnet_cifar":
            raise ParameterError(
                f"model must be a CIFAR ResNet resnetD (D = 6n+2) whose depth the sweep varies, got {config['model']!r}"
            )
        if config["width"] < 4:
            raise ParameterError(f"width must be an integer in 4 … 64, got {config['width']}")

    def specs(self, config):
        return capacity_specs(config)

    def figure(self, results, config):
        fig, axes = new_figure(3, 2, width=4.2, height=3.0)
        base = dict(zip(KNOBS, base_point(config), strict=True))
        for column, knob in enumerate(KNOBS):
            rows = knob_rows(results, config, knob)
            top, bottom = axes[0][column], axes[1][column]
            for eps in config["eps"]:
                part = rows[np.isclose(rows["eps"], eps)] if not rows.empty else rows
                if not part.empty:
                    mean_band(top, part, knob, "metrics.bias_amplification", label=f"ε = {eps:g}")
                    mean_band(bottom, part, knob, "metrics.accuracy", label=f"ε = {eps:g}")
            values = {"depth": config["depths"], "width": config["widths"], "weight_decay": config["weight_decays"]}
            others = ", ".join(
                f"{KNOB_LABEL[o]} {format_decay(base[o]) if o == 'weight_decay' else base[o]}"
                for o in KNOBS
                if o != knob
            )
            top.set(title=f"{KNOB_LABEL[knob]} ({others})", ylabel=r"BiasAmp$_{A\rightarrow T}$")
            top.axhline(0, color="grey", linewidth=0.8, linestyle=":")
            bottom.set(xlabel=KNOB_LABEL[knob], ylabel="test accuracy")
            for ax in (top, bottom):
                knob_axis(ax, knob, values[knob])
        axes[0][0].legend(fontsize=8)
        fig.suptitle(f"{DISPLAY[config['dataset']]}, base {config['model']}", fontsize=10)
        fig.tight_layout()
        return fig

    def summary(self, results, config):
        """This run's mean test accuracy (%) over all its runs, ``accuracy``."""
        return {"accuracy": mean_text(results["metrics.accuracy"] if not results.empty else [])}

    def claims(self, results, config):
        """Per ε line (the paper's lines; run r shares its class assignment across a sweep, so runs are the
        clusters of every rule), combined over the partly biased ε by ``verdicts.combine``:

        - v-shape of BiasAmp along each knob: ``interior_optimum`` (minimum);
        - accuracy grows with depth and with width: ``monotone`` (increasing);
        - the trade-off: ``optima_order`` of the accuracy curve (maximum) and the BiasAmp curve (minimum) along
          weight decay.
        """
        rows = [
            C.judged(
                f"{KNOB_LABEL[knob]}: BiasAmp is v-shaped (rises at low and at high capacity)",
                "v-shape",
                _along(results, config, knob, "metrics.bias_amplification", V.interior_optimum, optimum="min"),
            )
            for knob in KNOBS
        ]
        rows += [
            C.judged(
                f"accuracy grows monotonically with {knob}",
                "monotone increase",
                _along(results, config, knob, "metrics.accuracy", V.monotone, direction=1),
            )
            for knob in ("depth", "width")
        ]
        rows.append(_decay_tradeoff(partly_biased(knob_rows(results, config, "weight_decay"))))
        return C.claims_frame(rows)


def eps_lines(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The runs of each ε line, labelled "ε = 0.2", in the order of ε."""
    if frame.empty:
        return {}
    return {f"ε = {eps:g}": part for eps, part in frame.groupby("eps")}


def curves(lines: dict[str, pd.DataFrame], x: str, y: str) -> dict[str, tuple]:
    """Per line, the (x, y, cluster) arguments of a curve rule of ``reprolib.verdicts``; the cluster is the
    run (its class assignment and seed are shared along the curve)."""
    return {label: (part[x], part[y], part["run"]) for label, part in lines.items()}


def _along(results, config, knob: str, column: str, rule, **options) -> V.Verdict:
    """``rule`` (a curve rule of ``reprolib.verdicts``, with ``options``) on ``column`` along ``knob``, per partly
    biased ε line, combined over the lines by ``verdicts.combine``."""
    lines = eps_lines(partly_biased(knob_rows(results, config, knob)))
    if not lines:
        return V.not_run("no runs with 0 < ε < ½")
    return V.combine(rule, curves(lines, knob, column), **options)


def _decay_tradeoff(part: pd.DataFrame) -> C.Claim:
    """The weight decay of the best accuracy is lower than the weight decay of the least BiasAmp, per ε line:
    ``verdicts.optima_order`` (each optimum's 97.5% confidence set over the grid; reproduced when the accuracy
    set lies wholly below the BiasAmp set), combined over the ε lines by ``verdicts.combine``."""
    claim = "best-accuracy weight decay < least-BiasAmp weight decay"
    # The paper's optima are points (no confidence sets): the rule's sets are {1.93e-4} and {5.18e-4}.
    best, least = PAPER_OPTIMA["accuracy"], PAPER_OPTIMA["bias_amplification"]
    paper = f"1.9e-4 < 5.2e-4 (the rule on the paper's numbers: {V.REPRODUCED if best < least else V.NOT_REPRODUCED})"
    if part.empty or part["weight_decay"].nunique() < 2:
        return C.not_run(claim, paper, "fewer than 2 weight decays with runs")
    lines = eps_lines(part)
    pairs = {
        label: (
            (rows["weight_decay"], rows["metrics.accuracy"], rows["run"]),
            (rows["weight_decay"], rows["metrics.bias_amplification"], rows["run"]),
        )
        for label, rows in lines.items()
    }
    return C.judged(claim, paper, V.combine(V.optima_order, pairs, optima=("max", "min")))


CHAPTER = HallRQ2()
