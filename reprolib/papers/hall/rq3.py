"""H-RQ3 — Hall et al. (2022), RQ3 and Fig. 4: bias amplification and accuracy vs training-set size.

Each run trains on a stratified subsample of a proportion p of the training set (round(p · n_c) images of every
source class c) for epochs / p epochs, so that every p makes the same number of parameter updates (up to the
rounding of epochs / p to a whole number). All other hyperparameters stay as they are; the test set is whole.
"""

from __future__ import annotations

import numpy as np

from ... import claims as C
from ... import params as P
from ... import verdicts as V
from ...chapter import Chapter, run_ids
from ...figures import mean_band, new_figure
from ...sweep import RunSpec
from .course import COURSE
from .protocol import (
    DISPLAY,
    PAPER_PROTOCOL,
    PAPER_RECIPE,
    PROTOCOL,
    PROTOCOL_PARAMETERS,
    inversion_run,
    recipe_for,
)
from .rq2 import curves, eps_lines, partly_biased

__all__ = ["HallRQ3", "CHAPTER", "scaled_epochs", "fraction_specs"]

PAPER_FRACTIONS = [round(0.1 * i, 1) for i in range(1, 11)]


def scaled_epochs(epochs: int, fraction: float) -> int:
    """Epochs at training fraction p: epochs / p, rounded to the nearest whole number (at least 1)."""
    return max(1, round(epochs / fraction))


def fraction_specs(config: dict) -> list[RunSpec]:
    """One run per (fraction p, ε, run), trained for epochs / p epochs and tagged with p. Every milestone of
    the schedule scales with it: the drops (fractions of training) and, as in the authors' configs
    (cifar100_trainingsize: milestones rint(1/p), rint(250/p), rint(375/p)), the warm-up, 1/p epochs
    (``scale_warmup``; false keeps the one-epoch warm-up of the text's "we do not alter any of the other
    hyperparameters")."""
    dataset, specs = config["dataset"], []
    for fraction in config["fractions"]:
        epochs = scaled_epochs(config["epochs"], fraction)
        warmup = scaled_epochs(PAPER_RECIPE.warmup_epochs, fraction) if config["scale_warmup"] else 1
        warmup = min(warmup, max(1, epochs - 1))  # a warm-up leaves an epoch at full rate (short smoke runs)
        recipe = recipe_for(dataset, epochs, config, warmup_epochs=warmup)
        for eps in config["eps"]:
            for run in run_ids(config):
                spec = inversion_run(dataset, config["model"], eps, run, recipe, train_fraction=fraction, config=config)
                specs.append(spec.with_tags(fraction=fraction))
    return specs


class HallRQ3(Chapter):
    id = "H-RQ3"
    claim_rules = ("monotone", "interior_optimum")
    title = "RQ3: bias amplification and accuracy vs training-set size (Fig. 4)"
    notebook = "hall_rq3.md"
    presets = {
        "smoke": {
            "dataset": "digits",
            "model": "resnet8",
            "fractions": [0.5, 1.0],
            "eps": [0.3],
            "runs": 2,
            "epochs": 1,
        },
        # course: a subset of the paper's p; epochs (at p = 1) by the rule of ``course``.
        "course": {
            "dataset": "digits",
            "model": "resnet8",
            "fractions": [0.1, 0.2, 0.3, 0.5, 1.0],
            "eps": [0.3],
            "runs": 5,
            "epochs": COURSE.get("epochs_inversion", 10),
        },
        "paper": {**PAPER_PROTOCOL, "fractions": PAPER_FRACTIONS},
    }
    presets = {name: {**preset, "scale_warmup": True, **PROTOCOL} for name, preset in presets.items()}
    parameters = {
        "dataset": P.choice(*DISPLAY),
        "model": P.model(),
        "fractions": P.numbers(0, 1, open_low=True, unique=True),
        "eps": P.numbers(0, 0.5),
        "runs": P.integer(1, 1000),
        "epochs": P.integer(1),
        "scale_warmup": P.choice(True, False),
        **PROTOCOL_PARAMETERS,
    }

    def specs(self, config):
        return fraction_specs(config)

    def figure(self, results, config):
        fig, axes = new_figure(2, width=4.6, height=3.3)
        left, right = axes[0]
        for eps in config["eps"]:
            part = results[np.isclose(results["eps"], eps)] if not results.empty else results
            if not part.empty:
                mean_band(left, part, "fraction", "metrics.bias_amplification", label=f"ε = {eps:g}")
                mean_band(right, part, "fraction", "metrics.accuracy", label=f"ε = {eps:g}")
        left.axhline(0, color="grey", linewidth=0.8, linestyle=":")
        left.set(xlabel="proportion p of the training set", ylabel=r"BiasAmp$_{A\rightarrow T}$")
        right.set(xlabel="proportion p of the training set", ylabel="test accuracy")
        left.legend(fontsize=8)
        fig.suptitle(f"{config['model']} on {DISPLAY[config['dataset']]}, {config['epochs']} / p epochs", fontsize=10)
        fig.tight_layout()
        return fig

    def claims(self, results, config):
        """Per ε line, runs as clusters (run r keeps its class assignment at every p), combined over the partly
        biased ε by ``verdicts.combine``: accuracy grows monotonically with p (``monotone``); BiasAmp peaks at
        an intermediate p (``interior_optimum``, maximum)."""
        lines = eps_lines(partly_biased(results))
        texts = [
            ("accuracy grows monotonically with training-set size", "monotone increase"),
            ("BiasAmp is low at very small and at full data, higher in between", "peak at intermediate p"),
        ]
        if not lines:
            return C.claims_frame([C.not_run(claim, paper, "no runs") for claim, paper in texts])
        return C.claims_frame(
            [
                C.judged(*texts[0], V.combine(V.monotone, curves(lines, "fraction", "metrics.accuracy"), direction=1)),
                C.judged(
                    *texts[1],
                    V.combine(
                        V.interior_optimum, curves(lines, "fraction", "metrics.bias_amplification"), optimum="max"
                    ),
                ),
            ]
        )


CHAPTER = HallRQ3()
