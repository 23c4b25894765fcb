"""H-RQ4a and H-RQ4b — Hall et al. (2022), RQ4 and Figs. 5–7: bias amplification and overconfidence (ECE).

Every run record carries its test-set ECE (15 equal-width bins over the confidence of the predicted class,
Hall et al. eq. 4), so RQ4 trains nothing of its own: Fig. 5 (ECE vs ε) takes exactly the runs of H-RQ1, and
Figs. 6–7 (BiasAmp vs ECE as capacity or data size vary) exactly the runs of H-RQ2 and H-RQ3 — the same
specifications give the same store keys, so after those chapters nothing is retrained.
"""

from __future__ import annotations

from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from ... import claims as C
from ... import params as P
from ... import verdicts as V
from ...chapter import Chapter
from ...figures import new_figure
from ...metrics import mean_ci
from . import rq1, rq2, rq3
from .protocol import DISPLAY, mean_text
from .rq2 import KNOB_LABEL, KNOBS, curves, eps_lines, knob_rows, partly_biased

__all__ = ["HallRQ4a", "HallRQ4b", "CHAPTER_A", "CHAPTER_B", "capacity_rank"]


class HallRQ4a(Chapter):
    id = "H-RQ4a"
    claim_rules = ("trend",)
    title = "RQ4: overconfidence (ECE) vs dataset bias (Fig. 5)"
    notebook = "hall_rq4a.md"
    # The runs of H-RQ1 at the same preset (Fig. 5 is the paper's ResNet-110 on CIFAR-100 of Fig. 2).
    presets = {
        "smoke": rq1.CHAPTER.presets["smoke"],
        "course": rq1.CHAPTER.presets["course"],
        "paper": {**rq1.CHAPTER.presets["paper"], "dataset": ["cifar100"]},
    }
    parameters = rq1.CHAPTER.parameters

    def specs(self, config):
        """H-RQ1's runs of Fig. 2 (not its recognisers)."""
        return rq1.CHAPTER.main_specs(config)

    def figure(self, results, config):
        fig = rq1.eps_panels(results, config, "metrics.ece", "expected calibration error (ECE)")
        for ax in fig.axes:
            ax.set_ylim(bottom=0)
        return fig

    def summary(self, results, config):
        """On the digits: the smallest ε (``digits_low_eps``), the mean accuracy (%) there
        (``digits_accuracy_low_eps``) and the largest mean ECE of an ε < ½ (``digits_ece_max``)."""
        part = results[results["dataset"] == "digits"] if not results.empty else results
        if part.empty:
            return dict.fromkeys(("digits_low_eps", "digits_accuracy_low_eps", "digits_ece_max"), "not run")
        low = part["eps"].min()
        ece = part[part["eps"] < 0.5].groupby("eps")["metrics.ece"].mean()
        return {
            "digits_low_eps": f"{low:g}",
            "digits_accuracy_low_eps": mean_text(part.loc[part["eps"] == low, "metrics.accuracy"]),
            "digits_ece_max": f"{ece.max():.3f}" if len(ece) else "not run",
        }

    def claims(self, results, config):
        """ECE falls as ε rises, per dataset: ``verdicts.trend`` (falling) of the runs' ECE on ε, clustered by
        run (run r keeps its class assignment at every ε); once over every ε, once without ε = ½."""
        rows = []
        for dataset in config["dataset"]:
            name = DISPLAY[dataset]
            part = results[results["dataset"] == dataset] if not results.empty else results
            inner = part[part["eps"] < 0.5] if not part.empty else part
            for frame, claim, why in (
                (part, f"{name}: ECE falls as ε rises", "no runs"),
                (inner, f"{name}: ECE falls as ε rises, also without the fully biased ε = ½", "no runs with ε < ½"),
            ):
                rows.append(
                    C.judged(claim, "decreasing", V.trend(frame["eps"], frame["metrics.ece"], frame["run"], -1))
                    if not frame.empty
                    else C.not_run(claim, "decreasing", why)
                )
        return C.claims_frame(rows)


def capacity_rank(knob: str, values) -> np.ndarray:
    """A number that grows with capacity: depth and width themselves, −log₁₀ of the weight decay."""
    values = np.asarray(values, dtype=float)
    return -np.log10(values) if knob == "weight_decay" else values


class HallRQ4b(Chapter):
    id = "H-RQ4b"
    claim_rules = ("trend", "interior_optimum", "within_bands")
    title = "RQ4: bias amplification vs ECE as capacity and data size vary (Figs. 6, 7)"
    notebook = "hall_rq4b.md"
    # None everywhere: the capacity sweeps are H-RQ2's and the data sweep H-RQ3's, at the same preset. A value
    # given here replaces the value of both chapters (e.g. runs=20 matches `-p runs=20` given to each).
    presets = {
        name: {"dataset": None, "eps": None, "runs": None, "epochs": None} for name in ("smoke", "course", "paper")
    }
    parameters = {
        "dataset": P.choice(*DISPLAY),
        "eps": P.numbers(0, 0.5),
        "runs": P.integer(1, 1000),
        "epochs": P.integer(1),
    }

    def configure(self, preset="course", device="cpu", **params):
        config = super().configure(preset, device, **params)
        shared = {name: config[name] for name in self.all_parameters()}
        config["capacity"] = rq2.CHAPTER.configure(preset, device, **shared)
        config["data"] = rq3.CHAPTER.configure(preset, device, **shared)
        return config

    def specs(self, config):
        """H-RQ2's and H-RQ3's runs, each once, tagged with the sweep(s) they belong to."""
        merged = {}
        for sweep, chapter in (("capacity", rq2.CHAPTER), ("data", rq3.CHAPTER)):
            for spec in chapter.specs(config[sweep]):
                previous = merged.get(spec.key)
                tags = {**(previous.tags if previous else {}), **spec.tags, f"in_{sweep}": True}
                merged[spec.key] = replace(spec, tags=tags)
        return [replace(s, tags={"in_capacity": False, "in_data": False, **s.tags}) for s in merged.values()]

    def _capacity(self, results):
        return results[results["in_capacity"].astype(bool)] if not results.empty else results

    def _data(self, results):
        return results[results["in_data"].astype(bool)] if not results.empty else results

    def figure(self, results, config):
        """Fig. 6: one row per capacity knob, one column per ε; darker points are higher-capacity models."""
        capacity = config["capacity"]
        eps_values = capacity["eps"]
        fig, axes = new_figure(len(eps_values), 3, width=3.8, height=3.0)
        for row, knob in enumerate(KNOBS):
            rows = knob_rows(self._capacity(results), capacity, knob)
            for column, eps in enumerate(eps_values):
                ax = axes[row][column]
                part = rows[np.isclose(rows["eps"], eps)] if not rows.empty else rows
                label = rq2.format_decay if knob == "weight_decay" else (lambda v: f"{v:g}")
                _scatter(ax, part, knob, capacity_rank(knob, part[knob]) if not part.empty else [], label)
                ax.set(title=f"{KNOB_LABEL[knob]}, ε = {eps:g}", xlabel="ECE", ylabel=r"BiasAmp$_{A\rightarrow T}$")
        fig.suptitle(f"{DISPLAY[capacity['dataset']]}, base {capacity['model']} — darker: higher capacity", fontsize=10)
        fig.tight_layout()
        return fig

    def figure_data(self, results, config):
        """Fig. 7: one panel per ε; darker points are smaller training sets."""
        data = config["data"]
        fig, axes = new_figure(len(data["eps"]), 1, width=3.8, height=3.0)
        rows = self._data(results)
        for ax, eps in zip(axes[0], data["eps"], strict=True):
            part = rows[np.isclose(rows["eps"], eps)] if not rows.empty else rows
            _scatter(ax, part, "fraction", -part["fraction"].to_numpy() if not part.empty else [], lambda p: f"{p:g}")
            ax.set(title=f"training-set size, ε = {eps:g}", xlabel="ECE", ylabel=r"BiasAmp$_{A\rightarrow T}$")
        fig.suptitle(f"{data['model']} on {DISPLAY[data['dataset']]} — darker: smaller training set", fontsize=10)
        fig.tight_layout()
        return fig

    def summary(self, results, config):
        """The smallest and largest ECE of this run's runs, ``ece_low`` and ``ece_high``."""
        if results.empty:
            return dict.fromkeys(("ece_low", "ece_high"), "not run")
        return {"ece_low": f"{results['metrics.ece'].min():.3f}", "ece_high": f"{results['metrics.ece'].max():.3f}"}

    def claims(self, results, config):
        """Per ε line, runs as clusters, combined over the partly biased ε by ``verdicts.combine``:

        - higher capacity, higher ECE: ``trend`` (rising) of ECE on the capacity rank (depth, width, −log₁₀ of
          the weight decay);
        - as ECE grows with capacity, BiasAmp first falls, then rises: ``interior_optimum`` (minimum) of BiasAmp
          over the settings taken in the order of their mean ECE on that line (x = the rank, 1 = lowest ECE;
          the order is chosen from the same runs, which the rule does not correct for);
        - smaller training sets have higher ECE: ``trend`` (falling) of ECE on p;
        - "a (weak) relation between model overconfidence and bias amplification" (§1): per run, the Spearman
          correlation of BiasAmp with ECE over the run's capacity settings on the line; ``within_bands`` of
          those correlations with the bands (−½, 0) and (0, ½): related (the interval excludes 0) but weakly
          (|ρ| < ½, Cohen's boundary of a strong correlation).
        """
        capacity, rows = config["capacity"], []
        for knob in KNOBS:
            lines = eps_lines(partly_biased(knob_rows(self._capacity(results), capacity, knob)))
            claim = f"{KNOB_LABEL[knob]}: higher capacity, higher ECE"
            settings = {
                label: (capacity_rank(knob, part[knob]), part["metrics.ece"], part["run"])
                for label, part in lines.items()
            }
            rows.append(
                C.judged(claim, "ECE grows", V.combine(V.trend, settings, direction=1))
                if lines
                else C.not_run(claim, "ECE grows", "no runs with 0 < ε < ½")
            )
        for knob in KNOBS:
            lines = eps_lines(partly_biased(knob_rows(self._capacity(results), capacity, knob)))
            claim = f"{KNOB_LABEL[knob]}: as ECE grows with capacity, BiasAmp first falls, then rises"
            settings = {label: _by_ece(part, knob) for label, part in lines.items()}
            rows.append(
                C.judged(claim, "falls, then rises", V.combine(V.interior_optimum, settings, optimum="min"))
                if lines
                else C.not_run(claim, "falls, then rises", "no runs with 0 < ε < ½")
            )
        lines = eps_lines(partly_biased(self._data(results)))
        claim = "smaller training sets have higher ECE"
        rows.append(
            C.judged(
                claim,
                "ECE grows as p shrinks",
                V.combine(V.trend, curves(lines, "fraction", "metrics.ece"), direction=-1),
            )
            if lines
            else C.not_run(claim, "ECE grows as p shrinks", "no runs with 0 < ε < ½")
        )
        rows.append(_weak_relation(partly_biased(self._capacity(results))))
        return C.claims_frame(rows)


WEAK_BANDS = ((-0.5, 0.0), (0.0, 0.5))


def run_correlations(part: pd.DataFrame) -> np.ndarray:
    """Per run: the Spearman correlation of BiasAmp with ECE over the run's capacity settings (NaN-free: runs
    with fewer than 3 settings or no spread are left out)."""
    rhos = []
    for _, runs in part.groupby("run"):
        if len(runs) >= 3 and runs["metrics.ece"].nunique() > 1 and runs["metrics.bias_amplification"].nunique() > 1:
            rhos.append(stats.spearmanr(runs["metrics.ece"], runs["metrics.bias_amplification"]).statistic)
    return np.asarray(rhos, dtype=float)


def _weak_relation(part: pd.DataFrame) -> C.Claim:
    """BiasAmp and ECE are related, weakly: per ε line, ``verdicts.within_bands`` of the runs' correlations
    (``run_correlations``) with ``WEAK_BANDS``, combined over the lines by ``verdicts.combine``."""
    claim = "BiasAmp and ECE are weakly related across model capacities (0 < |ρ| < ½)"
    paper = "a (weak) relation"
    lines = eps_lines(part)
    if not lines:
        return C.not_run(claim, paper, "no runs with 0 < ε < ½")
    settings = {label: (run_correlations(rows), WEAK_BANDS) for label, rows in lines.items()}
    return C.judged(claim, paper, V.combine(V.within_bands, settings))


def _by_ece(part: pd.DataFrame, knob: str) -> tuple:
    """The (x, y, cluster) of one line's BiasAmp curve with the knob's settings ranked by their mean ECE on the
    line (x = 1 for the lowest ECE)."""
    rank = part.groupby(knob)["metrics.ece"].mean().rank(method="first")
    return part[knob].map(rank).to_numpy(), part["metrics.bias_amplification"], part["run"]


def _scatter(ax, part: pd.DataFrame, column: str, darkness, label) -> None:
    """Mean (ECE, BiasAmp) per value of ``column`` with 95% intervals, joined in the order of ``darkness``,
    shaded from light (lowest ``darkness``) to dark (highest). With more than five values only the lightest and
    the darkest point are labelled, so that the labels of a tight cluster do not overlap."""
    ax.axhline(0, color="grey", linewidth=0.8, linestyle=":")
    if part.empty:
        return
    frame = part.assign(_dark=np.asarray(darkness, dtype=float))
    points = []
    for value, group in frame.groupby(column):
        ece, ece_low, ece_high = mean_ci(group["metrics.ece"])
        amp, amp_low, amp_high = mean_ci(group["metrics.bias_amplification"])
        points.append((group["_dark"].iloc[0], value, ece, ece_low, ece_high, amp, amp_low, amp_high))
    points.sort()
    shades = plt.cm.Blues(np.linspace(0.35, 1.0, len(points)))
    ax.plot([p[2] for p in points], [p[5] for p in points], color="grey", linewidth=0.8, zorder=1)
    labelled = {0, len(points) - 1} if len(points) > 5 else set(range(len(points)))
    for i, (shade, (_, value, ece, el, eh, amp, al, ah)) in enumerate(zip(shades, points, strict=True)):
        ax.errorbar(
            ece, amp, xerr=[[ece - el], [eh - ece]], yerr=[[amp - al], [ah - amp]], color=shade, linewidth=0.8, zorder=2
        )
        ax.scatter([ece], [amp], color=shade, edgecolor="black", linewidth=0.4, s=36, zorder=3)
        if i in labelled:
            ax.annotate(label(value), (ece, amp), textcoords="offset points", xytext=(4, 3), fontsize=7)


CHAPTER_A = HallRQ4a()
CHAPTER_B = HallRQ4b()
