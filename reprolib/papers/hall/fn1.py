"""H-fn1 — Hall et al. (2022), footnote 1: how well a network recognises image inversion (the group).

The inversion task with ``swap_roles`` and ε = 0: the label is whether the image is inverted, and it carries no
information about the object (every source class is inverted with rate exactly ½).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ... import claims as C
from ... import params as P
from ... import verdicts as V
from ...chapter import Chapter, run_ids
from ...figures import new_figure
from ...metrics import mean_ci
from .course import COURSE
from .protocol import DISPLAY, PROTOCOL, PROTOCOL_PARAMETERS, inversion_run, mean_text, model_for, recipe_for

# Footnote 1: "the test accuracy of a residual network trained to recognize image inversion is 100% on
# Fashion MNIST images and 96% on CIFAR-100 images". Footnote 2: uniform backgrounds make it trivial.
PAPER_ACCURACY = {"fashion_mnist": 1.00, "cifar100": 0.96}
UNIFORM_BACKGROUND = ("digits", "fashion_mnist")
NEAR_PERFECT, HIGH = 0.99, 0.95  # accuracy thresholds of the rules below, fixed before any result was seen
NATURAL_RANGE = (0.90, 0.99)


def recogniser_specs(config) -> list:
    """The inversion recognisers of ``config`` (ε = 0, ``swap_roles``): one run per dataset and run. H-RQ1 trains
    the same runs (the same store keys) for its claim that links ε = ½ to footnote 1."""
    return [
        inversion_run(
            dataset,
            model_for(config["model"], dataset),
            0.0,
            run,
            recipe_for(dataset, config["epochs"], config),
            swap_roles=True,
            config=config,
            recogniser=True,
        )
        for dataset in config["dataset"]
        for run in run_ids(config)
    ]


class HallFn1(Chapter):
    id = "H-fn1"
    claim_rules = ("fn1_band", "fn1_order")
    title = "Footnote 1: how well is inversion recognised?"
    notebook = "hall_fn1.md"
    # course: H-RQ1's runs and epochs, so that H-RQ1's recognisers are these runs. paper: H-RQ1's 20 runs (the
    # paper does not give its number of runs), whose recognisers H-RQ1's claim on ε = ½ uses.
    presets = {
        "smoke": {"dataset": ["digits"], "model": "resnet8", "runs": 2, "epochs": 1},
        "course": {"dataset": ["digits"], "model": "resnet8", "runs": 5, "epochs": COURSE.get("epochs_inversion", 30)},
        "paper": {"dataset": ["fashion_mnist", "cifar100"], "model": None, "runs": 20, "epochs": 500},
    }
    presets = {name: {**preset, **PROTOCOL} for name, preset in presets.items()}
    parameters = {
        "dataset": P.choices(*DISPLAY),
        "model": P.model(per_dataset=True),
        "runs": P.integer(1, 1000),
        "epochs": P.integer(1),
        **PROTOCOL_PARAMETERS,
    }

    def specs(self, config):
        return recogniser_specs(config)

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


def _band_text(values) -> tuple[float, float, str]:
    median, low, high = V.median_interval(values)
    level = round(100 * (1 - 2 * V.ALPHA))
    return low, high, f"median {median:.2%} [{level}% CI {low:.2%}, {high:.2%}] (n={len(values)})"


@V.claim_rule("fn1_band")
def band_verdict(dataset: str, low: float, high: float) -> str:
    """The verdict of an accuracy band for an interval [low, high] of the mean accuracy (see ``_dataset_claim``);
    a number stated without an interval (the paper's) is the interval [value, value]."""
    if dataset in UNIFORM_BACKGROUND:
        if low >= NEAR_PERFECT:
            return C.REPRODUCED
        if low >= HIGH:
            return C.PARTLY
        return C.NOT_REPRODUCED if high < HIGH else C.INCONCLUSIVE
    lower, upper = NATURAL_RANGE
    if low >= lower and high < upper:
        return C.REPRODUCED
    return C.NOT_REPRODUCED if high < lower or low >= upper else C.INCONCLUSIVE


def paper_text(number: str, verdict: str) -> str:
    """The paper column of a claim whose rule can judge the paper's own numbers: the numbers, and the verdict
    the same rule gives them."""
    return f"{number} (the rule on the paper's numbers: {verdict})"


def _dataset_claim(dataset: str, values: np.ndarray) -> C.Claim:
    """An accuracy band, judged on the distribution-free 90% interval of the median run accuracy
    (``verdicts.median_interval``: order statistics, each end a one-sided bound at level ``ALPHA``), never on a
    point estimate alone. Not the Student-t interval of the mean: accuracies near 100% pile up at the ceiling,
    which shrinks their spread and so the t-interval; with 5 runs at a true 99% that rule said `reproduced` 5.5%
    of the time in calibration, above the book's 5%. The order-statistic interval is exact for any distribution.

    - Uniform backgrounds (digits, Fashion-MNIST), "near-perfectly": reproduced when the interval lies at or
      above ``NEAR_PERFECT`` (0.99); partly when it lies at or above ``HIGH`` (0.95) but not above 0.99 (high,
      not near-perfect); not reproduced when it lies below 0.95; otherwise inconclusive.
    - Natural images (CIFAR), "well but not always": reproduced when the interval lies inside
      ``NATURAL_RANGE`` [0.90, 0.99); not reproduced when it lies wholly outside it; otherwise inconclusive.

    Fewer than 5 runs give an infinite interval, hence inconclusive. Where footnote 1 gives a number, the paper
    column shows the verdict of the same band on it.
    """
    name = DISPLAY[dataset]
    if dataset in PAPER_ACCURACY:
        number = PAPER_ACCURACY[dataset]
        paper = paper_text(f"{number:.0%}", band_verdict(dataset, number, number))
    else:
        paper = "not reported"
    if dataset in UNIFORM_BACKGROUND:
        claim = f"{name}: inversion is recognised near-perfectly (uniform background)"
    else:
        claim = f"{name}: inversion is recognised well but not always"
    if len(values) == 0:
        return C.not_run(claim, paper, "no runs")
    low, high, measured = _band_text(values)
    return C.Claim(claim, paper, measured, band_verdict(dataset, low, high))


@V.claim_rule("fn1_order")
def _ordering_claim(results) -> C.Claim:
    """Fashion-MNIST's mean accuracy exceeds CIFAR-100's: one-sided Welch t-test (the two datasets' runs are
    independent) at level ``verdicts.ALPHA``. Reproduced when significant in the claimed direction; not
    reproduced when significant in the other; otherwise inconclusive."""
    claim = "inversion is easier to recognise on Fashion-MNIST than on CIFAR-100"
    # The paper's two numbers, stated without spread: the order of the two points.
    ordered = C.REPRODUCED if PAPER_ACCURACY["fashion_mnist"] > PAPER_ACCURACY["cifar100"] else C.NOT_REPRODUCED
    paper = paper_text("100% vs 96%", ordered)
    fm, cf = (_accuracies(results, d) for d in ("fashion_mnist", "cifar100"))
    if len(fm) < 2 or len(cf) < 2:
        return C.not_run(claim, paper, "fewer than 2 runs on one of the two")
    se2 = fm.var(ddof=1) / len(fm) + cf.var(ddof=1) / len(cf)
    diff = fm.mean() - cf.mean()
    if se2 == 0:  # no spread on either side: the means decide
        up, down = float(diff <= 0), float(diff >= 0)
    else:
        terms = [v.var(ddof=1) ** 2 / (len(v) ** 2 * (len(v) - 1)) for v in (fm, cf)]
        t, df = diff / np.sqrt(se2), se2**2 / sum(terms)
        up, down = stats.t.sf(t, df), stats.t.cdf(t, df)
    verdict = C.REPRODUCED if up < V.ALPHA else C.NOT_REPRODUCED if down < V.ALPHA else C.INCONCLUSIVE
    measured = f"{fm.mean():.2%} vs {cf.mean():.2%}; one-sided Welch p = {up:.2g}"
    return C.Claim(claim, paper, measured, verdict)


CHAPTER = HallFn1()
