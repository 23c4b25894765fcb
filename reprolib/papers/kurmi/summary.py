"""K-SUM — the closing note of Part III: every verdict of every Kurmi et al. (2022) chapter, at one preset."""

from __future__ import annotations

import pandas as pd

from ... import verdicts as V
from ...chapter import Chapter, ResultsMissing
from ...figures import new_figure
from ...store import ResultsStore
from . import f5, f13, t1, t3, t4, t5
from .common import ON_PAPER, PROTOCOL_LABELS

PART3 = [t1.CHAPTER, t3.CHAPTER, t4.CHAPTER, t5.CHAPTER, f13.CHAPTER, f5.CHAPTER]
# One colour per verdict of ``reprolib.verdicts.VERDICTS``, in its order.
VERDICT_COLOURS = dict(
    zip(V.VERDICTS, ("tab:green", "tab:olive", "tab:red", "tab:orange", "tab:blue", "tab:grey"), strict=True)
)


class KurmiSummary(Chapter):
    id = "K-SUM"
    title = "Part III closing note: every verdict"
    notebook = "kurmi_summary.md"
    presets = {"smoke": {}, "course": {}, "paper": {}}
    parameters = {}
    restates_claims = True  # its claims are K-T1's … K-F5's: a landing page or the front page counts them there

    def configs(self, config) -> list[tuple[Chapter, dict]]:
        return [(c, c.configure(config["preset"], config["device"])) for c in PART3]

    def specs(self, config):
        return [s for chapter, cfg in self.configs(config) for s in chapter.specs(cfg)]

    def run(self, config, store=None, progress=True, **sweep_options):
        """Run (or read from the store) every Part III chapter at this preset; their results, stacked, with a
        ``chapter`` column. In results-only mode a chapter with no stored results is left out (its line says
        what trains it); only when none has any is ``ResultsMissing`` raised."""
        store = store or ResultsStore()
        frames, missing = {}, []
        for chapter, cfg in self.configs(config):
            try:
                frames[chapter.id] = chapter.run(cfg, store, progress=progress, **sweep_options)
            except ResultsMissing as error:
                missing.append(str(error))
                print(error)
        if missing and len(missing) == len(PART3):
            raise ResultsMissing("; ".join(missing))
        return _stack(frames)

    def results(self, config, store=None, specs=None):
        store = store or ResultsStore()
        return _stack({c.id: c.results(cfg, store) for c, cfg in self.configs(config)})

    def claims(self, results, config):
        frames = []
        for chapter, cfg in self.configs(config):
            part = results[results["chapter"] == chapter.id] if not results.empty else results
            if part.empty:
                continue
            table = chapter.claims(part, cfg)
            table.insert(0, "chapter", chapter.id)
            frames.append(table)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def summary(self, results, config):
        """K-T4's values (``t4_vanilla_95``, …; see ``KurmiChapter.summary``); the claims this run reproduces,
        ``reproduced`` ("none" if no claim is); the verdict counts of the rows judged with the true test bias
        label, ``counts_true``, and without a test-time bias label, ``counts_free``; and the claims whose rule
        does not reproduce on the paper's own numbers, ``stronger_than_paper`` (the rule asks more than the
        paper's table shows)."""
        table4 = t4.CHAPTER
        part = results[results["chapter"] == table4.id] if not results.empty else results
        values = {
            f"t4_{k}": v for k, v in table4.summary(part, table4.configure(config["preset"], config["device"])).items()
        }
        table = self.claims(results, config)
        if table.empty:
            table = pd.DataFrame(columns=["chapter", "claim", ON_PAPER, "verdict"])
        rows = table[table["verdict"] == V.REPRODUCED]
        reproduced = "; ".join(f"{r.chapter}: {r.claim}" for r in rows.itertuples()) or "none"
        free = [label for key, label in PROTOCOL_LABELS.items() if key != "true"]

        def counts(mask) -> str:
            found = table.loc[mask, "verdict"].value_counts()
            return ", ".join(f"{found[v]} {v}" for v in V.VERDICTS if v in found) or "no claims"

        with_true = table["claim"].str.endswith(f"[{PROTOCOL_LABELS['true']}]")
        without = table["claim"].apply(lambda c: any(c.endswith(f"[{label}]") for label in free))
        stronger = table[table[ON_PAPER].isin([V.INCONCLUSIVE, V.NOT_REPRODUCED, V.PARTLY]) & ~without]
        return {
            **values,
            "reproduced": reproduced,
            "counts_true": counts(with_true),
            "counts_free": counts(without),
            "stronger_than_paper": "; ".join(f"{r.chapter}: {r.claim}" for r in stronger.itertuples()) or "none",
        }

    def figure(self, results, config):
        table = self.claims(results, config)
        fig, axes = new_figure(1, width=7.0, height=3.0)
        ax = axes[0][0]
        if not table.empty:
            counts = pd.crosstab(table["chapter"], table["verdict"]).reindex(
                columns=list(VERDICT_COLOURS), fill_value=0
            )
            counts.plot.barh(stacked=True, ax=ax, color=list(VERDICT_COLOURS.values()), width=0.7)
        ax.set(xlabel="claims", ylabel="", title=f"Part III verdicts at preset {config['preset']}")
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        return fig


def _stack(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    parts = [frame.assign(chapter=chapter_id) for chapter_id, frame in frames.items() if not frame.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


CHAPTER = KurmiSummary()
