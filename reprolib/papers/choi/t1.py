"""Z-T1 — Choi, Zhang & Liu, Table 1: the gender bias of the chosen labels, bias(o, man) on the training split.

Nothing trains: the chapter builds the task (the stand-in in a second, COCO's embeddings from the store) and
counts. ``specs`` is empty, so ``run`` is ``results``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import verdicts as V
from ...chapter import Chapter
from ...figures import new_figure
from .common import COMMON, ChoiChapter, check_distinct, task_spec
from .labels import TABLE1, TABLE1_OVERALL, TEDDY_BEAR_SHARE

HEAVY = 0.7  # "heavily biased towards males" (§4.1): Table 1's five such labels are all ≥ 72.8%
BALANCED = (0.4, 0.6)  # "relatively unbiased": Table 1's other six lie in [42.4%, 58.6%]
STANDIN_WHY = "the stand-in is built from Table 1's man-ratios and the 2.7% of teddy bear (choi_standin)"
TASK_KEYS = ("dataset", "coco_root", "objects", "n_images", "dim", "gender_signal")


class ChoiT1(Chapter):
    id = "Z-T1"
    title = "Table 1: gender bias of the chosen labels"
    notebook = "choi_t1.md"
    presets = {
        "smoke": {**{k: COMMON[k] for k in TASK_KEYS if k in COMMON}, "n_images": 800, "dim": 16},
        "course": {k: COMMON[k] for k in TASK_KEYS if k in COMMON},
        "paper": {**{k: COMMON[k] for k in TASK_KEYS if k in COMMON}, "dataset": "coco", "dim": 512},
    }
    parameters = {k: ChoiChapter.parameters[k] for k in TASK_KEYS}

    def check(self, config):
        check_distinct(config)

    def specs(self, config):
        return []  # counts, not training (module docstring)

    def run(self, config, store=None, progress=False, **sweep_options) -> pd.DataFrame:
        return self.results(config, store)

    def results(self, config, store=None, specs=None) -> pd.DataFrame:
        """One row per object and an ``Overall`` row: the paper's bias (Table 1), this data's training-split
        bias(o, man), its images, men and women, and its share of the training images."""
        task = task_spec(config).build(config.get("coco_root"))
        labels = task.train.labels.numpy()
        objects, man = labels[:, :-1], labels[:, -1]
        rows = []
        for k, name in enumerate(task.info["objects"]):
            has = objects[:, k] == 1
            rows.append(
                {
                    "label": name,
                    "paper": TABLE1[name],
                    "this run": task.info["train_bias"][k],
                    "images": int(has.sum()),
                    "men": int(man[has].sum()),
                    "women": int((1 - man[has]).sum()),
                    "share": float(has.mean()),
                }
            )
        rows.append(
            {
                "label": "Overall",
                "paper": TABLE1_OVERALL,
                "this run": float(man.mean()),
                "images": len(man),
                "men": int(man.sum()),
                "women": int((1 - man).sum()),
                "share": 1.0,
            }
        )
        return pd.DataFrame(rows)

    def figure(self, results, config):
        """Table 1 as bars: the paper's bias(o, man) beside this data's, per label and overall; ½ dotted."""
        fig, axes = new_figure(1, width=9.0, height=3.4)
        ax = axes[0, 0]
        x = np.arange(len(results))
        ax.bar(x - 0.2, results["paper"] * 100, 0.4, label="paper (Table 1)", color="grey")
        ax.bar(x + 0.2, results["this run"] * 100, 0.4, label=f"this run ({config['dataset']}, training split)")
        ax.axhline(50, color="black", linestyle=":", linewidth=0.8)
        ax.set_xticks(x, results["label"], rotation=40, ha="right", fontsize=8)
        ax.set(ylabel="bias(o, man) (%)", ylim=(0, 100))
        ax.legend(fontsize=8)
        fig.tight_layout()
        return fig

    def claims(self, results, config):
        """Table 1's three statements (§4.1, §4.3). On the stand-in they hold by construction (it is built from
        them); on COCO the numbers are shown beside the paper's, and no verdict is computed: a single count per
        label has no run-to-run spread for the book's calibrated rules to judge."""
        objects = results[results["label"] != "Overall"].set_index("label")
        overall = results.set_index("label").loc["Overall", "this run"]
        heavy = objects.index[objects["this run"] >= HEAVY].tolist()
        balanced = objects.index[objects["this run"].between(*BALANCED)].tolist()
        rows = [
            (
                "about half of the labels are heavily biased towards men, the rest relatively unbiased",
                "5 of 11 at ≥ 72.8%; 6 in [42.4%, 58.6%]",
                f"{len(heavy)} of {len(objects)} at ≥ 70%; {len(balanced)} in [40%, 60%]",
            ),
            ("the training set as a whole is biased towards men", f"overall {TABLE1_OVERALL:.2%}", f"{overall:.2%}"),
        ]
        if "teddy bear" in objects.index:
            rows.append(
                (
                    "teddy bear is rare",
                    f"about {TEDDY_BEAR_SHARE:.1%} of all instances (§4.3)",
                    f"{objects.loc['teddy bear', 'share']:.2%}",
                )
            )
        if config["dataset"] == "standin":
            verdicts = [V.by_construction(m, STANDIN_WHY) for _, _, m in rows]
        else:
            verdicts = [V.not_run(f"{m}: counts shown, no calibrated rule for one count") for _, _, m in rows]
        return pd.DataFrame(
            [
                {"claim": c, "paper": p, "measured": v.measured, "verdict": v.verdict}
                for (c, p, _), v in zip(rows, verdicts, strict=True)
            ]
        )

    def summary(self, results, config):
        """The largest gap to Table 1 (points) and where, the overall share, the number of training images."""
        if results.empty:
            return dict.fromkeys(("max_gap", "overall", "train_images"), "not run")
        objects = results[results["label"] != "Overall"]
        gap = (objects["this run"] - objects["paper"]).abs()
        worst = objects.loc[gap.idxmax(), "label"]
        return {
            "max_gap": f"{gap.max() * 100:.1f} points ({worst})",
            "overall": f"{results.iloc[-1]['this run']:.2%}",
            "train_images": f"{int(results.iloc[-1]['images']):,}",
        }


CHAPTER = ChoiT1()
