"""C-4-V — what the defences of thesis ch. 4 do to a clean, a backdoored and a poisoned image (Figs. 4.1–4.2 of the
thesis show CutMix and mixup on poisoned data).

No training: the page shows one clean training image of the adversarial class, the same image with the backdoor
trigger (C-4-T1's patch), and the same image as a Witches' Brew poison (C-4-T2's run-0 basic poisons at the same
preset, read from the store or crafted once), each after mixup, CutMix, cutout and MaxUp's four cutout copies,
with the poison's perturbation magnified to the full grey range. The claims are checks of what is shown (``by
construction``): exact mixing weights, the poison within ε.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ... import mixing
from ... import params as P
from ... import verdicts as V
from ...artifacts import ArtifactMissing, artifact_key, artifact_store, load_artifact
from ...chapter import Chapter
from ...figures import new_figure
from ...sources import SourceUnavailable
from .backdoor import add_patch
from .c4_t2 import CHAPTER as T2
from .poison import clean_task

__all__ = ["CherepanovaViews", "CHAPTER"]

COLUMNS = ("image", "mixup", "CutMix", "cutout", "MaxUp 1", "MaxUp 2", "MaxUp 3", "MaxUp 4")


def partnered_seed(seed: int) -> int:
    """The first seed ≥ ``seed`` whose first draw, a permutation of two, swaps them (mixup and CutMix draw it
    first), so the image is mixed with its partner."""
    while int(torch.randperm(2, generator=torch.Generator().manual_seed(seed))[0]) == 0:
        seed += 1
    return seed


class CherepanovaViews(Chapter):
    id = "C-4-V"
    title = "What each augmentation does to a clean, a backdoored and a poisoned image"
    notebook = "cherepanova_c4_views.md"
    presets = {name: {"trigger": 12 / 32, "seed": 0} for name in ("smoke", "course")} | {
        "paper": {"trigger": 4 / 32, "seed": 0}
    }
    parameters = {"trigger": P.number(0, 1, open_low=True), "seed": P.integer(0)}

    def specs(self, config):
        return []

    def images(self, config, craft: bool = True) -> dict:
        """The rows of the figure as [0, 1] tensors (1, C, H, W), the partner image, the poison's perturbation
        and ε. The poison is read from the store, or crafted once with ``craft`` (else left out, as it is when
        the store may not compute: ``$REPROLIB_RESULTS_ONLY``)."""
        t2 = T2.configure(config["preset"], config["device"])
        spec = T2.poison(t2, 0, "none")
        task = clean_task(spec.dataset, spec.size)
        arrays = None
        if craft or artifact_store().is_done(artifact_key(spec)):
            try:
                arrays = load_artifact(spec)
            except ArtifactMissing:
                arrays = None
        index = int(arrays["indices"][0]) if arrays is not None else 0
        clean = task.train.images[index : index + 1]
        partner = task.train.images[(task.train.labels != task.train.labels[index]).nonzero()[0]]
        rows = {"clean": clean, "backdoored": add_patch(clean, config["trigger"])}
        if arrays is not None:
            rows["poisoned"] = torch.from_numpy(arrays["images"][:1])
        return {
            "rows": {k: v.float().div(255) for k, v in rows.items()},
            "partner": partner.float().div(255),
            "perturbation": (rows["poisoned"].float() - clean.float()) / 255 if arrays is not None else None,
            "epsilon": spec.epsilon,
        }

    def augmented(self, image: torch.Tensor, partner: torch.Tensor, seed: int) -> tuple[list, list]:
        """``image`` (1, C, H, W) paired with ``partner`` in a batch of two, through mixup, CutMix, cutout and
        MaxUp's four cutouts; returns the images shown and the targets of mixup and CutMix. Each mixing draws
        from a generator seeded by the first seed ≥ ``seed`` whose permutation pairs the image with the partner
        (a permutation of two may leave the image with itself)."""
        x = torch.cat([image, partner])[None]
        labels = torch.tensor([[0, 1]])
        shown, targets = [image[0]], []
        for fn in (mixing.mixup, mixing.cutmix):
            mixed, t = fn(x, labels, [torch.Generator().manual_seed(partnered_seed(seed))])
            shown.append(mixed[0, 0])
            targets.append(t)
        g = torch.Generator().manual_seed(seed)
        shown.append(mixing.cutout(x, labels, [g])[0][0, 0])
        for mixed, _ in mixing.maxup_copies(mixing.cutout, 4, x, labels, [g]):
            shown.append(mixed[0, 0])
        return shown, targets

    def figure(self, results, config):
        """Rows: clean, backdoored, poisoned; columns: the image, mixup, CutMix, cutout, MaxUp's four cutouts; a
        last row shows the poison's perturbation magnified (−ε black, +ε white)."""
        data = self.images(config)
        rows = data["rows"]
        fig, axes = new_figure(len(COLUMNS), len(rows) + 1, width=1.2, height=1.3)
        for r, (name, image) in enumerate(rows.items()):
            shown, _ = self.augmented(image, data["partner"], config["seed"])
            for c, picture in enumerate(shown):
                axes[r][c].imshow(picture.permute(1, 2, 0).squeeze(-1), cmap="gray", vmin=0, vmax=1)
            axes[r][0].set_ylabel(name, rotation=0, ha="right", fontsize="small")
        for c, title in enumerate(COLUMNS):
            axes[0][c].set_title(title, fontsize="x-small")
        last = axes[len(rows)]
        if data["perturbation"] is not None:
            eps = data["epsilon"]
            last[0].imshow(data["perturbation"][0].permute(1, 2, 0).squeeze(-1), cmap="gray", vmin=-eps, vmax=eps)
            last[0].set_ylabel(f"Δ × {1 / (2 * eps):.0f}", rotation=0, ha="right", fontsize="small")
        for ax in np.ravel(axes):
            ax.set_xticks([])
            ax.set_yticks([])
        for ax in last[1:]:
            ax.axis("off")
        fig.tight_layout()
        return fig

    def claims(self, results, config) -> pd.DataFrame:
        """Checks of what the figure shows: mixing weights that sum to one, CutMix's label share against the pixels
        changed, the poison within ε (when it is in the store: the claims never craft). Without the data set on
        disk, one ``not run`` row naming the folder."""
        try:
            data = self.images(config, craft=False)
        except SourceUnavailable as error:
            return pd.DataFrame(
                [{"claim": self.title, "paper": "", "measured": str(error), "verdict": V.NOT_RUN}],
                columns=["claim", "paper", "measured", "verdict"],
            )
        image = data["rows"]["clean"]
        shown, (mix_t, cut_t) = self.augmented(image, data["partner"], config["seed"])
        pasted = float((shown[2] != image[0]).any(0).float().mean())
        rows = [
            (
                "mixup's label weights sum to one",
                "§4.3",
                V.by_construction(f"{float(sum(w for w, _ in mix_t)[0, 0]):.6f}", "weights (λ, 1 − λ)"),
            ),
            (
                "CutMix's label share of the partner is at least the share of pixels that changed",
                "§4.3: labels mixed by area",
                V.by_construction(
                    f"label share {float(cut_t[1][0][0, 0]):.3f}, changed pixels {pasted:.3f}",
                    "equal pixels of the two images do not change",
                ),
            ),
        ]
        if data["perturbation"] is not None:
            worst = float(data["perturbation"].abs().max())
            rows.append(
                (
                    "the poison stays within ε",
                    "§4.4.2: ℓ∞ ≤ 16/255",
                    V.by_construction(f"max |Δ| = {worst * 255:.0f}/255 ≤ ε = {data['epsilon'] * 255:.0f}/255", ""),
                )
            )
        else:
            rows.append(
                ("the poison stays within ε", "§4.4.2", V.not_run("C-4-T2's run-0 poison is not in the store yet"))
            )
        return pd.DataFrame(
            [{"claim": c, "paper": p, "measured": v.measured, "verdict": v.verdict} for c, p, v in rows],
            columns=["claim", "paper", "measured", "verdict"],
        )


CHAPTER = CherepanovaViews()
