"""H-F1 — Hall et al. (2022), §2.1 and Fig. 1: the two groups, original and inverted images."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import torch

from ... import params as P
from ...chapter import Chapter
from ...sources import load_source
from .protocol import DISPLAY
from .tasks import make_inversion_task

NO_CLAIM = "—"


class HallF1(Chapter):
    id = "H-F1"
    title = "Fig. 1: the groups — original and inverted images"
    notebook = "hall_f1.md"
    presets = {
        "smoke": {"dataset": ["digits"], "examples": 2, "seed": 0},
        "course": {"dataset": ["digits"], "examples": 2, "seed": 0},
        "paper": {"dataset": ["fashion_mnist", "cifar100"], "examples": 2, "seed": 0},
    }
    parameters = {"dataset": P.choices(*DISPLAY), "examples": P.integer(1, 8), "seed": P.seed}

    def specs(self, config):
        return []  # a figure of the data: nothing to train

    def pairs(self, dataset: str, config: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """``examples`` random test images that the inversion task inverts (ε = 0, seeded): the source images
        and the images exactly as the model sees them, both uint8 (n, C, H, W)."""
        source = load_source(dataset)
        task = make_inversion_task(source, 0.0, config["seed"])
        inverted = torch.nonzero(task.test.groups == 1).flatten()
        generator = torch.Generator().manual_seed(config["seed"])
        chosen = inverted[torch.randperm(len(inverted), generator=generator)[: config["examples"]]]
        return source.test_images[chosen], task.test.images[chosen]

    def figure(self, results, config):
        """One panel per dataset, side by side; in each, ``examples`` pairs of original (left) and inverted
        (right) images, as in the paper's Fig. 1."""
        datasets, n = config["dataset"], config["examples"]
        fig = plt.figure(figsize=(1.3 * 2 * n * len(datasets), 2.0))
        for subfig, dataset in zip(fig.subfigures(1, len(datasets), squeeze=False)[0], datasets, strict=True):
            originals, inverted = self.pairs(dataset, config)
            axes = subfig.subplots(1, 2 * n, squeeze=False)[0]
            for i in range(n):
                for ax, image, label in (
                    (axes[2 * i], originals[i], "original"),
                    (axes[2 * i + 1], inverted[i], "inverted"),
                ):
                    _show(ax, image)
                    ax.set_title(label, fontsize=9)
            subfig.suptitle(DISPLAY[dataset], fontsize=10)
        return fig

    def claims(self, results, config):
        """Fig. 1 illustrates the groups; the paper attaches no claim to it, so the table has one row of dashes."""
        row = {"claim": "Fig. 1 illustrates the groups; the paper attaches no claim to it"}
        return pd.DataFrame([{**row, "paper": NO_CLAIM, "measured": NO_CLAIM, "verdict": NO_CLAIM}])


def _show(ax, image: torch.Tensor) -> None:
    if image.shape[0] == 1:
        ax.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(image.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


CHAPTER = HallF1()
