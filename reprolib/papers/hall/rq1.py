"""H-RQ1 — Hall et al. (2022), RQ1 and Fig. 2: bias amplification as a function of the dataset bias ε."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import claims as C
from ... import params as P
from ...chapter import Chapter
from ...figures import mean_band, new_figure
from .protocol import DISPLAY, inversion_run, model_for, model_label, recipe_for

FIG2_EPS = [round(0.05 * i, 2) for i in range(11)]


class HallRQ1(Chapter):
    id = "H-RQ1"
    title = "RQ1: bias amplification vs dataset bias (Fig. 2)"
    notebook = "hall_rq1.md"
    presets = {
        "smoke": {"dataset": ["digits"], "model": "resnet8", "eps": [0.0, 0.25, 0.5], "runs": 2, "epochs": 1},
        "course": {
            "dataset": ["digits"],
            "model": "resnet8",
            "eps": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
            "runs": 10,
            "epochs": 30,
        },
        "paper": {"dataset": ["fashion_mnist", "cifar100"], "model": None, "eps": FIG2_EPS, "runs": 20, "epochs": 500},
    }
    parameters = {
        "dataset": P.choices(*DISPLAY),
        "model": P.model(),
        "eps": P.numbers(0, 0.5),
        "runs": P.integer(1, 1000),
        "epochs": P.integer(1),
    }

    def specs(self, config):
        return [
            inversion_run(dataset, model_for(config["model"], dataset), eps, run, recipe_for(dataset, config["epochs"]))
            for dataset in config["dataset"]
            for eps in config["eps"]
            for run in range(config["runs"])
        ]

    def figure(self, results, config):
        fig = eps_panels(results, config, "metrics.bias_amplification", r"BiasAmp$_{A\rightarrow T}$")
        for ax in fig.axes:
            ax.axhline(0, color="grey", linewidth=0.8, linestyle=":")
        return fig

    def claims(self, results, config):
        rows = []
        for dataset in config["dataset"]:
            part = results[results["dataset"] == dataset] if not results.empty else results
            rows += _dataset_claims(dataset, part)
        if {"fashion_mnist", "cifar100"} <= set(config["dataset"]):
            rows.append(_peak_claim(results))
        return C.claims_frame(rows)


def _values(part: pd.DataFrame, eps: float) -> np.ndarray:
    if part.empty:
        return np.array([])
    return part.loc[np.isclose(part["eps"], eps), "metrics.bias_amplification"].to_numpy()


def _dataset_claims(dataset: str, part: pd.DataFrame) -> list[C.Claim]:
    name = DISPLAY[dataset]
    eps_values = sorted(part["eps"].unique()) if not part.empty else []
    intermediate = [e for e in eps_values if 0 < e < 0.5]
    rows = []
    zero = f"{name}: no amplification without bias (BiasAmp ≈ 0 at ε = 0)"
    rows.append(
        C.check_near_zero(zero, "0", _values(part, 0.0))
        if 0.0 in eps_values
        else C.not_run(zero, "0", "ε = 0 not in the grid")
    )
    positive = f"{name}: partly biased data is amplified (BiasAmp > 0 for 0 < ε < ½)"
    rows.append(
        C.check_positive(positive, "> 0 at every intermediate ε", {e: _values(part, e) for e in intermediate})
        if intermediate
        else C.not_run(positive, "> 0", "no intermediate ε in the grid")
    )
    growing = f"{name}: amplification grows with ε until near ½"
    inner = part[(part["eps"] > 0) & (part["eps"] < 0.5)] if not part.empty else part
    rows.append(
        C.check_increasing(growing, "increasing", inner["eps"], inner["metrics.bias_amplification"])
        if len(intermediate) >= 2
        else C.not_run(growing, "increasing", "fewer than 2 intermediate ε")
    )
    half = 0.5 in eps_values
    if dataset == "cifar100":
        claim = f"{name}: bias is dampened at ε = ½ (group not always recognised)"
        rows.append(
            C.check_negative(claim, "< 0", {0.5: _values(part, 0.5)})
            if half
            else C.not_run(claim, "< 0", "ε = ½ not in the grid")
        )
    elif dataset in ("fashion_mnist", "digits"):
        claim = f"{name}: no amplification of a maximal bias (BiasAmp ≈ 0 at ε = ½)"
        rows.append(
            C.check_near_zero(claim, "≈ 0 (Fashion-MNIST)", _values(part, 0.5))
            if half
            else C.not_run(claim, "≈ 0", "ε = ½ not in the grid")
        )
    return rows


def _peak_claim(results: pd.DataFrame) -> C.Claim:
    """The ε of the largest mean BiasAmp is lower on CIFAR-100 than on Fashion-MNIST."""
    claim = "CIFAR-100 peaks at a lower ε than Fashion-MNIST"
    peaks = {}
    for dataset in ("fashion_mnist", "cifar100"):
        part = results[results["dataset"] == dataset] if not results.empty else results
        if part.empty:
            return C.not_run(claim, "lower ε", f"no {DISPLAY[dataset]} runs")
        peaks[dataset] = part.groupby("eps")["metrics.bias_amplification"].mean().idxmax()
    verdict = C.REPRODUCED if peaks["cifar100"] < peaks["fashion_mnist"] else C.NOT_REPRODUCED
    measured = f"peak at ε = {peaks['cifar100']:g} (CIFAR-100) vs {peaks['fashion_mnist']:g} (Fashion-MNIST)"
    return C.Claim(claim, "lower ε on CIFAR-100", measured, verdict)


CHAPTER = HallRQ1()


def eps_panels(results, config, column: str, ylabel: str):
    """One panel per dataset of ``config``: the mean of ``column`` with its 95% band against ε (Figs. 2 and 5)."""
    datasets = config["dataset"]
    fig, axes = new_figure(len(datasets))
    for ax, dataset in zip(axes[0], datasets, strict=True):
        part = results[results["dataset"] == dataset] if not results.empty else results
        if not part.empty:
            mean_band(ax, part, "eps", column)
        ax.set(
            xlabel="dataset bias ε",
            ylabel=ylabel,
            title=f"{model_label(model_for(config['model'], dataset))} on {DISPLAY[dataset]}",
        )
    fig.tight_layout()
    return fig
