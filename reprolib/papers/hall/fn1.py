"""H-fn1 — Hall et al. (2022), footnote 1: how well a network recognises image inversion (the group).

The inversion task with ``swap_roles`` and ε = 0: the label is whether the image is inverted, and it carries no
information about the object (every source class is inverted with rate exactly ½).
"""

from __future__ import annotations

import numpy as np

from ... import claims as C
from ... import params as P
from ...chapter import Chapter
from ...figures import new_figure
from ...metrics import mean_ci
from .protocol import DISPLAY, inversion_run, mean_text, model_for, recipe_for

# Footnote 1: "the test accuracy of a residual network trained to recognize image inversion is 100% on
# Fashion MNIST images and 96% on CIFAR-100 images". Footnote 2: uniform backgrounds make it trivial.
PAPER_ACCURACY = {"fashion_mnist": 1.00, "cifar100": 0.96}
UNIFORM_BACKGROUND = ("digits", "fashion_mnist")
NEAR_PERFECT, HIGH = 0.99, 0.95  # accuracy thresholds of the rules below, fixed before any result was seen
NATURAL_RANGE = (0.90, 0.99)


class HallFn1(Chapter):
    id = "H-fn1"
    title = "Footnote 1: how well is inversion recognised?"
    notebook = "hall_fn1.md"
    presets = {
        "smoke": {"dataset": ["digits"], "model": "resnet8", "runs": 2, "epochs": 1},
        "course": {"dataset": ["digits"], "model": "resnet8", "runs": 10, "epochs": 30},
        "paper": {"dataset": ["fashion_mnist", "cifar100"], "model": None, "runs": 5, "epochs": 500},
    }
    parameters = {
        "dataset": P.choices(*DISPLAY),
        "model": P.model(),
        "runs": P.integer(1, 1000),
        "epochs": P.integer(1),
    }

    def specs(self, config):
        return [
            inversion_run(
                dataset,
                model_for(config["model"], dataset),
                0.0,
                run,
                recipe_for(dataset, config["epochs"]),
                swap_roles=True,
            )
            for dataset in config["dataset"]
            for run in range(config["runs"])
        ]

    def figure(self, results, config):
        """Test accuracy of recognising inversion per dataset: mean over runs with its 95% interval, and the
        paper's number where footnote 1 gives one."""
        datasets = config["dataset"]
        fig, axes = new_figure(1, width=max(3.2, 1.6 * len(datasets) + 1.5))
        ax = axes[0, 0]
        labels = {"this run (mean, 95% CI)", "paper (footnote 1)"}  # each legend entry once

        def once(label):
            if label not in labels:
                return "_"
            labels.remove(label)
            return label

        for i, dataset in enumerate(datasets):
            values = _accuracies(results, dataset)
            if len(values):
                mean, low, high = mean_ci(values)
                ax.bar(i, mean, color="C0", alpha=0.8, label=once("this run (mean, 95% CI)"))
                ax.errorbar(i, mean, yerr=[[mean - low], [high - mean]], color="black", capsize=4)
            if dataset in PAPER_ACCURACY:
                ax.plot(i, PAPER_ACCURACY[dataset], "r*", markersize=12, label=once("paper (footnote 1)"))
        ax.set_xticks(range(len(datasets)), [DISPLAY[d] for d in datasets])
        ax.set(ylim=(0.5, 1.02), ylabel="test accuracy (inverted or not)")
        ax.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
        ax.legend(loc="lower right")
        fig.tight_layout()
        return fig

    def summary(self, results, config):
        """The mean accuracy (%) of recognising inversion on the digits, ``digits_accuracy``, after ``epochs``
        ("30 epochs")."""
        epochs = config["epochs"]
        return {
            "digits_accuracy": mean_text(_accuracies(results, "digits")),
            "epochs": f"{epochs} epoch{'s' * (epochs != 1)}",
        }

    def claims(self, results, config):
        rows = [_dataset_claim(dataset, _accuracies(results, dataset)) for dataset in config["dataset"]]
        if {"fashion_mnist", "cifar100"} <= set(config["dataset"]):
            rows.append(_ordering_claim(results))
        return C.claims_frame(rows)


def _accuracies(results, dataset: str) -> np.ndarray:
    if results.empty:
        return np.array([])
    return results.loc[results["dataset"] == dataset, "metrics.accuracy"].to_numpy()


def _dataset_claim(dataset: str, values: np.ndarray) -> C.Claim:
    """Uniform backgrounds (digits, Fashion-MNIST): reproduced when the mean accuracy is ≥ 0.99, partly when
    ≥ 0.95, otherwise not reproduced. Natural images (CIFAR): recognised well but not perfectly — reproduced
    when the mean lies in [0.90, 0.99), otherwise not reproduced."""
    name = DISPLAY[dataset]
    paper = f"{PAPER_ACCURACY[dataset]:.0%}" if dataset in PAPER_ACCURACY else "not reported"
    if dataset in UNIFORM_BACKGROUND:
        claim = f"{name}: inversion is recognised near-perfectly (uniform background)"
    else:
        claim = f"{name}: inversion is recognised well but not always"
    if len(values) == 0:
        return C.not_run(claim, paper, "no runs")
    mean, low, high = mean_ci(values)
    measured = f"{mean:.2%} [{low:.2%}, {high:.2%}] (n={len(values)})"
    if dataset in UNIFORM_BACKGROUND:
        verdict = C.REPRODUCED if mean >= NEAR_PERFECT else C.PARTLY if mean >= HIGH else C.NOT_REPRODUCED
    else:
        verdict = C.REPRODUCED if NATURAL_RANGE[0] <= mean < NATURAL_RANGE[1] else C.NOT_REPRODUCED
    return C.Claim(claim, paper, measured, verdict)


def _ordering_claim(results) -> C.Claim:
    """Reproduced when Fashion-MNIST's mean accuracy exceeds CIFAR-100's and the 95% intervals do not overlap;
    partly when only the means are so ordered; otherwise not reproduced."""
    claim = "inversion is easier to recognise on Fashion-MNIST than on CIFAR-100"
    fm, cf = (_accuracies(results, d) for d in ("fashion_mnist", "cifar100"))
    if len(fm) == 0 or len(cf) == 0:
        return C.not_run(claim, "100% vs 96%", "no runs on one of the two")
    (m_fm, low_fm, _), (m_cf, _, high_cf) = mean_ci(fm), mean_ci(cf)
    verdict = C.REPRODUCED if low_fm > high_cf else C.PARTLY if m_fm > m_cf else C.NOT_REPRODUCED
    return C.Claim(claim, "100% vs 96%", f"{m_fm:.2%} vs {m_cf:.2%}", verdict)


CHAPTER = HallFn1()
