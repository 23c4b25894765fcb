"""K-F13 — Kurmi et al. (2022), Figs. 1 and 3: discriminator and classifier accuracy on bias-aligned and
bias-conflicting test images during training, for vanilla, adversarial and GBA training on CIFAR-10S."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import claims as C
from ... import verdicts as V
from ...figures import mean_band, new_figure
from .common import METHOD_NAMES, metric_column
from .t1 import GreyColourChapter, _presets

PANELS = {"discriminator": "Fig. 1: discriminator", "classifier": "Fig. 3: classifier"}


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

    def claims(self, results, config):
        """At the last epoch, per run: aligned − conflicting accuracy > 0 (``verdicts.positive`` over runs); "GBA
        closes the classifier's gap more than X": |gap of X| − |gap of GBA| > 0 on runs paired by seed (the gap is
        absolute: over-correcting is no closing)."""
        rows = []
        for method, claim, paper in (
            ("vanilla", "Vanilla: the discriminator is more accurate on aligned than on conflicting images", "Fig. 1a"),
            ("adversarial", "Adversarial: the discriminator stays better on aligned images (class cues)", "Fig. 1b"),
            ("vanilla", "Vanilla: the classifier is more accurate on aligned than on conflicting images", "Fig. 3a"),
        ):
            which = "classifier" if "classifier" in claim else "discriminator"
            if method not in config["methods"]:
                rows.append(C.not_run(claim, paper, f"needs {method}"))
                continue
            a = self._last(results, config, method, which, "aligned")
            b = self._last(results, config, method, which, "conflicting")
            rows.append(C.judged(claim, paper, V.positive({"last epoch": (a - b).dropna().to_numpy()})))
        if {"gba", "vanilla", "adversarial"} <= set(config["methods"]):
            for other, paper in (("vanilla", "Fig. 3c vs 3a"), ("adversarial", "Fig. 3c vs 3b")):
                claim = f"GBA closes the classifier's gap more than {other}"
                gap = {
                    m: (
                        self._last(results, config, m, "classifier", "aligned")
                        - self._last(results, config, m, "classifier", "conflicting")
                    ).abs()
                    for m in ("gba", other)
                }
                common = gap["gba"].index.intersection(gap[other].index)
                diff = (gap[other][common] - gap["gba"][common]).dropna().to_numpy()
                rows.append(C.judged(claim, paper, V.positive({"|gap| reduction, last epoch": diff})))
        return C.claims_frame(rows)


CHAPTER = KurmiF13()
