"""W-F67 — Wang et al. (2019), Figs. 6 and 7: what adversarial removal at the image hides, and whether any label
pays disproportionately for debiasing.

Fig. 6: test images X beside X̃ = M ⊙ X, the mask M predicted by the image-space adversary (``wang_adversarial``,
``layer="image"``, kept with its logits). Fig. 7: per label, the test F1 of the original model against that of
the debiased model (adversarial removal at conv5), each at the λ chosen on dev as in W-T45 (the same runs and
attackers: this chapter reads W-T45's).

"No one class disproportionately suffers" (§5.4) is judged per label on its F1 change relative to the mean
change over labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import verdicts as V
from ...figures import new_figure
from ...metrics import macro_f1
from ...store import current_store
from .attackers import built_task
from .t1 import DataChapter, _frame, _prefix, no_results
from .t45 import CHAPTER as T45
from .t45 import choose

__all__ = ["WangF67", "CHAPTER", "PER_LABEL_TOLERANCE", "label_f1"]

# "Very close to the solid line (y = x)": a label's F1 change within 5 points of the mean change over labels.
# Fig. 7's points lie within about that distance of the diagonal; fixed before any run was judged.
PER_LABEL_TOLERANCE = 0.05
METHODS = ("original", "adv@image", "adv@conv5")


def label_f1(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """F1 of each label (column) of the 0/1 ``labels`` against ``logits > 0``."""
    return np.array([macro_f1(labels[:, [k]], logits[:, [k]] > 0) for k in range(labels.shape[1])])


class WangF67(DataChapter):
    id = "W-F67"
    claim_rules = ("equivalent_to_zero",)
    title = "Figs. 6–7: images masked by the adversary; per-label F1 before and after debiasing"
    notebook = "wang_f67.md"
    presets = T45.presets
    parameters = T45.parameters

    def specs(self, config):
        """W-T45's runs of the original model and of adversarial removal at the image and at conv5."""
        config = {**config, "layers": ["image", "conv5"]}
        return [s for s in T45.specs(config) if s.tags["method"] in METHODS]

    def results(self, config, store=None, specs=None) -> pd.DataFrame:
        """One row per (method, λ, run, label): the label's test F1; λ chosen on dev is marked ``chosen``."""
        store = store or current_store()
        specs = specs if specs is not None else self.specs(config)
        leakage = T45.results(config, store, specs)
        if leakage.empty:
            return pd.DataFrame(columns=["method", "setting", "run", "label", "F1", "chosen", "key"])
        chosen = {m: choose(leakage, m, config["max_f1_drop"]) for m in METHODS[1:] if m in set(leakage["method"])}
        rows = []
        for spec in specs:
            outputs = store.get_outputs(spec.key)
            if not outputs:
                continue
            labels = built_task(spec.task).test.labels.numpy()
            logits = outputs.get("test", outputs.get("test/logits"))
            method, setting = spec.tags["method"], spec.tags["setting"]
            picked = method == "original" or chosen.get(method) == setting
            for k, f1 in enumerate(label_f1(labels, logits)):
                rows.append(
                    {
                        "method": method,
                        "setting": setting,
                        "run": spec.seed,
                        "label": k,
                        "F1": f1,
                        "chosen": picked,
                        "key": spec.key,
                    }
                )
        return pd.DataFrame(rows)

    def figure(self, results, config):
        """Left: test images (top) and what the image-space adversary at its chosen λ lets through (bottom),
        run 0; right: per-label F1 before (original) and after (adv @ conv5), mean over runs, with y = x."""
        fig, axes = new_figure(2, width=5.0, height=3.8)
        left, right = axes[0]
        if results.empty:
            for ax in (left, right):
                ax.text(0.5, 0.5, no_results(config), ha="center", wrap=True)
            return fig
        image = results[(results["method"] == "adv@image") & results["chosen"] & (results["run"] == 0)]
        if not image.empty:
            spec = next(s for s in self.specs(config) if s.key == image["key"].iloc[0])
            task = built_task(spec.task)
            mask = current_store().get_outputs(spec.key)["test/mask"]
            n = 8
            x = task.test.images[:n, 0].float().numpy() / 255
            grid = np.concatenate([np.concatenate(list(x), 1), np.concatenate(list(x * mask[:n]), 1)], 0)
            left.imshow(grid, cmap="gray", vmin=0, vmax=1)
            genders = "".join("M" if g else "W" for g in task.test.groups[:n].tolist())
            left.set_title(f"X (top) and M ⊙ X (bottom): {genders}", fontsize=8)
        left.axis("off")
        before = results[results["method"] == "original"].groupby("label")["F1"].mean()
        after = results[(results["method"] == "adv@conv5") & results["chosen"]].groupby("label")["F1"].mean()
        if len(after):
            right.scatter(before, after.loc[before.index])
            for k in before.index:
                right.annotate(str(k), (before[k], after[k]), fontsize=8)
        right.plot([0, 1], [0, 1], color="black", linewidth=1)
        right.set(xlabel="F1 before debiasing", ylabel="F1 after (adv @ conv5)", xlim=(0, 1.02), ylim=(0, 1.02))
        fig.tight_layout()
        return fig

    def claims(self, results, config):
        """ "No class disproportionately suffers" (§5.4, Fig. 7): per label, the F1 change (adv @ conv5 at its
        chosen λ − original) minus the mean change over labels, per run; ``verdicts.equivalent_to_zero`` with
        band ±``PER_LABEL_TOLERANCE``, combined over labels by ``verdicts.combine``."""
        claim = f"no label's F1 falls more than {PER_LABEL_TOLERANCE * 100:g} points beyond the mean change"
        if results.empty:
            why = no_results(config)
            return _frame([(claim, "Fig. 7", V.not_run(why))])
        before = results[results["method"] == "original"].pivot_table("F1", "run", "label")
        after = results[(results["method"] == "adv@conv5") & results["chosen"]].pivot_table("F1", "run", "label")
        if after.empty:
            return _frame([(claim, "Fig. 7", V.not_run("no adv@conv5 runs"))])
        change = after - before.loc[after.index]
        relative = change.sub(change.mean(axis=1), axis=0)
        settings = {f"label {k}": (relative[k].to_numpy(),) for k in relative.columns}
        verdict = V.combine(V.equivalent_to_zero, settings, tolerance=PER_LABEL_TOLERANCE)
        return _frame([(claim, "Fig. 7: points near y = x", _prefix(verdict, "change − mean change"))])

    def summary(self, results, config):
        """The mean F1 change over labels and the label that changes most relative to it (points)."""
        if results.empty:
            return {"mean_change": "not run", "worst_label": "not run", "worst_change": "not run"}
        before = results[results["method"] == "original"].groupby("label")["F1"].mean()
        after = results[(results["method"] == "adv@conv5") & results["chosen"]].groupby("label")["F1"].mean()
        change = (after - before.loc[after.index]) * 100
        worst = (change - change.mean()).abs().idxmax()
        return {
            "mean_change": f"{change.mean():+.1f} points",
            "worst_label": str(worst),
            "worst_change": f"{change[worst]:+.1f} points",
        }


CHAPTER = WangF67()
