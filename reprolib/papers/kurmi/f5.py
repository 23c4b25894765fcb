"""K-F5 — Kurmi et al. (2022), Fig. 5: Friedman test and Nemenyi critical-difference diagrams (Demšar 2006)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import claims as C
from ... import verdicts as V
from ...figures import new_figure
from ...metrics import friedman_nemenyi
from .common import METHOD_NAMES, Row, metric_column
from .f13 import FIGURE
from .t1 import GreyColourChapter, _presets


def nemenyi_codes(rank_difference, critical_difference: float) -> np.ndarray:
    """Codes (``verdicts.CODES``) of :func:`nemenyi_verdict` for rank differences (other − GBA) of any shape."""
    d = np.asarray(rank_difference, dtype=float)
    codes = [V.CODES.index(v) for v in (V.REPRODUCED, V.NOT_REPRODUCED, V.INCONCLUSIVE)]
    return np.select([d > critical_difference, d < -critical_difference], codes[:2], codes[2])


@V.claim_rule("nemenyi")
def nemenyi_verdict(rank_difference: float, critical_difference: float) -> str:
    """Nemenyi's test after Friedman's (the paper's own, Demšar 2006): reproduced when GBA's average rank is
    better than the other method's by more than the critical difference CD (``rank_difference`` = other's rank −
    GBA's); not reproduced when it is worse by more than CD; inconclusive within CD of each other."""
    return V.CODES[int(nemenyi_codes(rank_difference, critical_difference))]


COMPARISONS = {
    "(a) baseline, adversarial, GBA": ("vanilla", "adversarial", "gba"),
    "(b) variants of GBA": ("gba_c", "gba_n", "gba"),
}


class KurmiF5(GreyColourChapter):
    """Blocks are the ten classes of CIFAR-10S: the score of a method in a block is its mean of aligned and
    conflicting test accuracy on that class, averaged over runs. The paper's CD of 1.048 for three methods at
    α = 0.05 is what N = 10 blocks give, which suggests the same blocking."""

    id = "K-F5"
    claim_rules = ("nemenyi",)
    title = "Fig. 5: statistical significance (Friedman test, Nemenyi critical difference)"
    notebook = "kurmi_f5.md"
    presets = _presets(["vanilla", "adversarial", "gba_n", "gba_c", "gba"])

    def scores(self, results, config, methods) -> pd.DataFrame:
        """(classes × methods) table of per-class mean accuracy, averaged over the final runs."""
        final = self.final(results, config)
        table = {}
        for method in methods:
            part = final[final["method"] == method] if not final.empty else final
            column = metric_column(config["test_protocol"], "class_mean")
            if part.empty:
                return pd.DataFrame()
            values = (
                part[column]
                if column in part and part[column].notna().all()
                else part[metric_column("none", "class_mean")]
            )
            table[METHOD_NAMES[method]] = np.mean(np.stack(values.to_list()), axis=0)
        return pd.DataFrame(table)

    def tests(self, results, config) -> dict:
        out = {}
        for name, methods in COMPARISONS.items():
            if set(methods) <= set(config["methods"]):
                scores = self.scores(results, config, methods)
                if not scores.empty:
                    out[name] = (scores, friedman_nemenyi(scores.to_numpy()))
        return out

    def table(self, results, config, metrics=None):
        rows = []
        for name, (scores, test) in self.tests(results, config).items():
            row = {"comparison": name, "blocks (classes)": len(scores)}
            row.update({f"rank {m}": f"{r:.2f}" for m, r in zip(scores.columns, test["average_ranks"], strict=True)})
            row.update(
                {
                    "Friedman χ²": f"{test['statistic']:.2f}",
                    "p": f"{test['p_value']:.3g}",
                    "CD (α=0.05)": f"{test['critical_difference']:.3f}",
                }
            )
            rows.append(row)
        return pd.DataFrame(rows)

    def figure(self, results, config):
        tests = self.tests(results, config)
        fig, axes = new_figure(max(len(tests), 1), 1, width=5.0, height=2.2)
        for ax, (name, (scores, test)) in zip(axes[0], tests.items(), strict=False):
            _cd_diagram(ax, list(scores.columns), test["average_ranks"], test["critical_difference"], name)
        fig.tight_layout()
        return fig

    def summary(self, results, config):
        """GBA's average rank among vanilla, adversarial and GBA (``gba_rank``) and the number of classes on which
        it ranks last (``gba_last``, "k of N"); "not run" without the three methods."""
        tests = self.tests(results, config)
        if "(a) baseline, adversarial, GBA" not in tests:
            return {"gba_rank": "not run", "gba_last": "not run"}
        scores, test = tests["(a) baseline, adversarial, GBA"]
        gba = METHOD_NAMES["gba"]
        rank = dict(zip(scores.columns, test["average_ranks"], strict=True))[gba]
        last = int((scores[gba] < scores.drop(columns=gba).min(axis=1)).sum())
        return {"gba_rank": f"{rank:.2f}", "gba_last": f"{last} of {len(scores)}"}

    def claim_rows(self, results, config):
        """Nemenyi's test after Friedman's, the paper's own (:func:`nemenyi_verdict`)."""
        tests = self.tests(results, config)
        rows = []
        for other in ("vanilla", "adversarial"):
            claim = f"GBA is significantly different from {other} (rank difference > CD)"
            name = "(a) baseline, adversarial, GBA"
            if name not in tests:
                rows.append(Row(C.not_run(claim, "CD = 1.048", "needs vanilla, adversarial and gba"), FIGURE, True))
                continue
            scores, test = tests[name]
            ranks = dict(zip(scores.columns, test["average_ranks"], strict=True))
            diff = ranks[METHOD_NAMES[other]] - ranks[METHOD_NAMES["gba"]]
            cd = test["critical_difference"]
            verdict = nemenyi_verdict(diff, cd)
            measured = f"rank difference {diff:+.2f} vs CD {cd:.3f} (Friedman p = {test['p_value']:.3g})"
            rows.append(Row(C.Claim(claim, "GBA ranked first, outside the CD", measured, verdict), FIGURE, True))
        return rows


def _cd_diagram(ax, names, ranks, cd, title):
    """A critical-difference diagram (Demšar 2006, Fig. 1): methods on the axis of average ranks (1 = best, on
    the left), the CD as a bar, and a thick line joining methods whose ranks differ by less than CD."""
    k = len(names)
    ax.set_xlim(0.8, k + 0.2)
    ax.set_ylim(0, 1)
    ax.axhline(0.75, color="black", linewidth=1)
    for r in range(1, k + 1):
        ax.plot([r, r], [0.73, 0.77], color="black", linewidth=1)
        ax.text(r, 0.8, str(r), ha="center", fontsize=8)
    order = np.argsort(ranks)
    for i, j in enumerate(order):
        y = 0.55 - 0.15 * i
        ax.plot([ranks[j], ranks[j]], [0.75, y], color="C0", linewidth=1)
        ax.text(ranks[j] + 0.03, y, f"{names[j]} ({ranks[j]:.2f})", va="center", fontsize=8)
    ax.plot([1, 1 + cd], [0.95, 0.95], color="red", linewidth=2)
    ax.text(1 + cd / 2, 0.88, f"CD = {cd:.2f}", ha="center", fontsize=8, color="red")
    for a in range(k):
        for b in range(a + 1, k):
            i, j = order[a], order[b]
            if abs(ranks[i] - ranks[j]) < cd:
                ax.plot([ranks[i], ranks[j]], [0.68 - 0.04 * a, 0.68 - 0.04 * a], color="black", linewidth=3)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


CHAPTER = KurmiF5()
