"""K-F13 — Kurmi et al. (2022), Figs. 1 and 3: discriminator and classifier accuracy on bias-aligned and
bias-conflicting test images during training, for vanilla, adversarial and GBA training on CIFAR-10S."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import claims as C
from ... import verdicts as V
from ...figures import mean_band, new_figure
from .common import METHOD_NAMES, Row, metric_column
from .t1 import GreyColourChapter, _presets

PANELS = {"discriminator": "Fig. 1: discriminator", "classifier": "Fig. 3: classifier"}
# Thresholds of the figure claims, fixed before any run was judged and calibrated in ``papers.kurmi.calibration``
# (the figures give no numbers): chance for two bias values; "near zero" below 10%; "retains its accuracy"
# within 5 points of vanilla's discriminator; "almost no discrepancy" a gap within ±1 point.
CHANCE = 0.5
NEAR_ZERO = 0.10
KEEP_MARGIN = 0.05
NO_GAP = 0.01
FIGURE = "— (a figure: no numbers)"


def curve_frame(chapter, results: pd.DataFrame, config, method: str, which: str) -> pd.DataFrame:
    """Per (run, epoch) of the final runs of ``method``: accuracy on aligned and conflicting test images of the
    discriminator (on the bias attribute) or of the classifier (under the chapter's test protocol)."""
    final = chapter.final(results, config)
    rows = []
    for _, run in final[final["method"] == method].iterrows() if not final.empty else []:
        for point in run["curves"]:
            flat = pd.json_normalize(point).iloc[0]
            for part in ("aligned", "conflicting"):
                if which == "discriminator":
                    value = flat.get(f"discriminator.{part}", np.nan)
                else:
                    column = metric_column(config["test_protocol"], part)[len("metrics.") :]
                    value = flat.get(column, flat.get(metric_column("none", part)[len("metrics.") :], np.nan))
                rows.append({"run": run["run"], "epoch": point["epoch"], "part": part, "value": value})
    return pd.DataFrame(rows, columns=["run", "epoch", "part", "value"])


def curve_panels(chapter, results, config, methods, which: str, axes_row=None, fig=None):
    if axes_row is None:
        fig, axes = new_figure(len(methods), 1, width=3.8, height=3.0)
        axes_row = axes[0]
    for ax, method in zip(axes_row, methods, strict=True):
        frame = curve_frame(chapter, results, config, method, which)
        for part in ("aligned", "conflicting"):
            values = frame[frame["part"] == part].dropna()
            if not values.empty:
                mean_band(ax, values, "epoch", "value", label=part, marker=None)
        ax.set(xlabel="epoch", ylabel=f"{which} test accuracy", title=f"{METHOD_NAMES[method]}", ylim=(0, 1.02))
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


class KurmiF13(GreyColourChapter):
    id = "K-F13"
    claim_rules = ("positive", "negative", "equivalent_to_zero")
    title = "Figs. 1 and 3: discriminator and classifier accuracy during training"
    notebook = "kurmi_f13.md"
    presets = _presets(["vanilla", "adversarial", "gba"])

    def figure(self, results, config):
        methods = [m for m in ("vanilla", "adversarial", "gba") if m in config["methods"]]
        fig, axes = new_figure(len(methods), 2, width=3.8, height=3.0)
        for row, which in enumerate(PANELS):
            curve_panels(self, results, config, methods, which, axes[row], fig)
        return fig

    def _last(self, results, config, method, which, part):
        frame = curve_frame(self, results, config, method, which)
        last = frame[(frame["part"] == part) & (frame["epoch"] == frame["epoch"].max())]
        return last.set_index("run")["value"]

    def _last_paired(self, results, config, methods, which, quantity) -> dict[str, np.ndarray]:
        """Per method, the last epoch's ``quantity`` (aligned, conflicting, mean, |gap|) of ``which``, on the
        runs every one of ``methods`` has, in run order."""
        series = {}
        for m in methods:
            aligned = self._last(results, config, m, which, "aligned")
            conflicting = self._last(results, config, m, which, "conflicting")
            series[m] = {
                "aligned": aligned,
                "conflicting": conflicting,
                "mean": (aligned + conflicting) / 2,
                "|gap|": (aligned - conflicting).abs(),
            }[quantity].dropna()
        common = sorted(set.intersection(*(set(v.index) for v in series.values())))
        return {m: v[common].to_numpy() for m, v in series.items()}

    def claim_rows(self, results, config):
        """At the last epoch, per run (paired by seed across methods), the claims of Figs. 1 and 3, each judged
        by a rule of ``reprolib.verdicts`` (``V.positive`` on per-run differences, or ``equivalent_to_zero``)."""
        ran = set(config["methods"])

        def row(claim, paper, methods, make, masked=False) -> Row:
            if not set(methods) <= ran:
                return Row(C.not_run(claim, paper, f"needs {', '.join(methods)}"), FIGURE, masked)
            return Row(C.judged(claim, paper, make()), FIGURE, masked)

        def last(methods, which, quantity):
            return self._last_paired(results, config, methods, which, quantity)

        def aligned_over_conflicting(method, which):
            runs = {q: last([method], which, q)[method] for q in ("aligned", "conflicting")}
            return V.positive({"aligned − conflicting, last epoch": runs["aligned"] - runs["conflicting"]})

        def lowered(which, quantities, base="vanilla", other="adversarial"):
            parts = {q: last([base, other], which, q) for q in quantities}
            return V.positive({f"{q}: {base} − {other}": v[base] - v[other] for q, v in parts.items()})

        vanilla_adv = ("vanilla", "adversarial")
        return [
            row(
                "Vanilla: the discriminator is more accurate on aligned than on conflicting images",
                "Fig. 1a",
                ["vanilla"],
                lambda: aligned_over_conflicting("vanilla", "discriminator"),
            ),
            row(
                "Adversarial: the discriminator stays better on aligned images (class cues)",
                "Fig. 1b",
                ["adversarial"],
                lambda: aligned_over_conflicting("adversarial", "discriminator"),
            ),
            row(
                f"Adversarial: the discriminator is worse than chance ({CHANCE:.0%}) on conflicting images",
                "Fig. 1b: 'even worse than random'",
                ["adversarial"],
                lambda: V.negative(
                    {
                        "conflicting − chance": last(["adversarial"], "discriminator", "conflicting")["adversarial"]
                        - CHANCE
                    }
                ),
            ),
            row(
                "Adversarial training lowers the discriminator's aligned and conflicting accuracy (vs vanilla)",
                "Fig. 1b vs 1a: 'depreciates the bias aligned accuracy along with the bias conflicting accuracy'",
                list(vanilla_adv),
                lambda: lowered("discriminator", ("aligned", "conflicting")),
            ),
            row(
                f"GBA: the discriminator's accuracy on conflicting images is near zero (< {NEAR_ZERO:.0%})",
                "Fig. 1c: 'near zero bias conflicting accuracy'",
                ["gba"],
                lambda: V.positive(
                    {f"{NEAR_ZERO:g} − conflicting": NEAR_ZERO - last(["gba"], "discriminator", "conflicting")["gba"]}
                ),
            ),
            row(
                f"GBA: the discriminator keeps its aligned accuracy (within {KEEP_MARGIN * 100:.0f} points of vanilla)",
                "Fig. 1c: 'On the bias aligned samples, the discriminator retains its accuracy'",
                ["vanilla", "gba"],
                lambda: V.positive(
                    {
                        f"gba − vanilla + {KEEP_MARGIN:g}": (lambda v: v["gba"] - v["vanilla"] + KEEP_MARGIN)(
                            last(["vanilla", "gba"], "discriminator", "aligned")
                        )
                    }
                ),
            ),
            row(
                "Vanilla: the classifier is more accurate on aligned than on conflicting images",
                "Fig. 3a",
                ["vanilla"],
                lambda: aligned_over_conflicting("vanilla", "classifier"),
            ),
            row(
                "Adversarial training lowers the classifier's mean accuracy and its gap (vs vanilla)",
                "Fig. 3b: 'reduce the bias gap ... but degrades the overall class accuracy'",
                list(vanilla_adv),
                lambda: lowered("classifier", ("mean", "|gap|")),
            ),
            *[
                row(
                    f"GBA closes the classifier's gap more than {other}",
                    paper,
                    ["gba", other],
                    lambda other=other: lowered("classifier", ("|gap|",), base=other, other="gba"),
                    masked=True,
                )
                for other, paper in (("vanilla", "Fig. 3c vs 3a"), ("adversarial", "Fig. 3c vs 3b"))
            ],
            row(
                f"GBA: almost no gap between aligned and conflicting accuracy (|gap| within ±{NO_GAP * 100:.0f} point)",
                "Fig. 3c: 'almost no discrepancy in the aligned and conflicting accuracy'",
                ["gba"],
                lambda: V.equivalent_to_zero(last(["gba"], "classifier", "|gap|")["gba"], NO_GAP),
                masked=True,
            ),
            row(
                "GBA's mean accuracy is above the adversarial method's",
                "Fig. 3c vs 3b: 'the average accuracy also improves significantly'",
                ["gba", "adversarial"],
                lambda: lowered("classifier", ("mean",), base="gba", other="adversarial"),
                masked=True,
            ),
        ]


CHAPTER = KurmiF13()
