"""The multi-label stand-in for COCO of Wang et al. (2019), §4.1: digit "objects" and a "person" on one canvas.

COCO's setting (§4.1): images that contain a person of a protected attribute g (man or woman, from the
captions), several labelled objects whose frequencies differ between the genders, and objects nobody labelled
that differ too — the paper's explanation of why balancing the labels is not enough (§4.2, "Alternative Data
Splits"). The stand-in keeps these parts on a 24 × 24 grey canvas divided into a 3 × 3 grid of 8 × 8 cells:

- the **person**: one cell filled with a solid square whose brightness reveals g — grey level 230 (bright) for
  g = 1 and 90 (dark) for g = 0 — plus pixel noise; its box (x0, y0, x1, y1) in pixels is recorded per image in
  ``Task.info["person_boxes"][split]``;
- the **labelled objects**: object k is the 8 × 8 digit k of ``sources.load_source("digits")``; it is present
  in exactly round(rates_g0[k] · n₀) images of group 0 and round(rates_g1[k] · n₁) of group 1 (n_g: the images of
  group g in the split); the label vector is the (N, K) 0/1 int64 matrix of presences;
- the **unlabelled object** (``hidden=True``): the digit 9, present in exactly round(hidden_rates[g] · n_g)
  images of group g and in no label; ``hidden=False`` is the control without it.

Every object and the person take distinct random cells. Exactly round(group_rate · N) images have g = 1. The
train and validation canvases draw their digits from the source's train images, the test canvases from its test
images. Every count is exact and every draw seeded by ``seed``.

The task's evaluator ``multilabel`` reports mAP and macro-F1 (§4.1, "Metrics") from the model's pre-activation
logits; the method ``multilabel_bce`` trains K sigmoid outputs with binary cross-entropy and keeps those logits
as its outputs (model leakage is read from them, §4.1 "Computing Leakage").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score

from ... import metrics as M
from ...evaluation import register_evaluator
from ...objectives import Objective
from ...sources import load_source
from ...specs import MethodSpec, TaskSpec, check, check_range, register_method, register_task
from ...tasks import Split, Task, channel_stats, split_balanced

__all__ = ["CocoStandIn", "MultiLabelBCE", "multilabel_metrics", "CELL", "GRID", "PERSON_LEVEL", "HIDDEN_DIGIT"]

CELL, GRID = 8, 3  # 8 × 8 cells (the digits' size) in a 3 × 3 grid: a 24 × 24 canvas
PERSON_LEVEL = (90, 230)  # grey level of the person's square for g = 0 (dark) and g = 1 (bright)
BACKGROUND = 20
NOISE = 12.0  # standard deviation of the pixel noise on the person's square, in grey levels
HIDDEN_DIGIT = 9


def _canvases(
    n: int,
    spec: CocoStandIn,
    images: torch.Tensor,
    classes: torch.Tensor,
    generator: torch.Generator,
) -> tuple[Split, torch.Tensor, torch.Tensor]:
    """``n`` canvases: the split (groups, label matrix, images drawn from ``images``, digits of class ``classes``),
    the person boxes (n, 4) and the presence (n,) of the unlabelled object."""
    groups = split_balanced(n, spec.group_rate, generator).long()
    k = len(spec.rates_g0)
    present = torch.zeros(n, k + 1, dtype=torch.bool)  # last column: the unlabelled object
    columns = [*zip(spec.rates_g0, spec.rates_g1, strict=True)]
    if spec.hidden:
        columns.append(spec.hidden_rates)
    for g in (0, 1):
        members = torch.nonzero(groups == g).flatten()
        for j, rates in enumerate(columns):
            present[members[split_balanced(len(members), rates[g], generator)], j] = True
    canvas = torch.full((n, 1, CELL * GRID, CELL * GRID), float(BACKGROUND))
    boxes = torch.zeros(n, 4, dtype=torch.long)
    digits = [*range(k), HIDDEN_DIGIT]
    pools = [torch.nonzero(classes == d).flatten() for d in digits]
    for i in range(n):
        cells = torch.randperm(GRID * GRID, generator=generator)
        row, col = divmod(int(cells[0]), GRID)
        y0, x0 = row * CELL, col * CELL
        noise = NOISE * torch.randn(CELL, CELL, generator=generator)
        canvas[i, 0, y0 : y0 + CELL, x0 : x0 + CELL] = PERSON_LEVEL[int(groups[i])] + noise
        boxes[i] = torch.tensor([x0, y0, x0 + CELL, y0 + CELL])
        for j, cell in zip(torch.nonzero(present[i]).flatten().tolist(), cells[1:].tolist(), strict=False):
            pool = pools[j]
            digit = images[int(pool[torch.randint(len(pool), (1,), generator=generator)]), 0].float()
            row, col = divmod(cell, GRID)
            patch = canvas[i, 0, row * CELL : (row + 1) * CELL, col * CELL : (col + 1) * CELL]
            patch.copy_(torch.maximum(patch, digit))
    labels = present[:, :k].long()
    images_u8 = canvas.round().clamp(0, 255).to(torch.uint8)
    hidden = present[:, k] if spec.hidden else torch.zeros(n, dtype=torch.bool)
    return Split(images_u8, labels, groups, labels), boxes, hidden


@register_task("wang_coco_standin")
@dataclass(frozen=True)
class CocoStandIn(TaskSpec):
    """The stand-in of COCO (module docstring): K = len(rates_g0) labelled digit objects with presence rates
    ``rates_g0`` / ``rates_g1`` per group, an unlabelled object correlated with g (``hidden``), a person whose
    brightness reveals g; train / validation / test of ``n_train`` / ``n_validation`` / ``n_test`` canvases."""

    per_run: ClassVar[frozenset[str]] = frozenset({"seed"})

    # P(object k | g = 0) and P(object k | g = 1); objects 0–4 are digits 0–4. Sparse, as COCO's labels are: about
    # one image in five holds an object, so random flips bring F1 near 0.3 before they become anti-correlated
    rates_g0: tuple[float, ...] = (0.3, 0.1, 0.2, 0.35, 0.05)
    rates_g1: tuple[float, ...] = (0.1, 0.3, 0.2, 0.15, 0.25)
    hidden: bool = True
    hidden_rates: tuple[float, float] = (0.2, 0.8)  # P(unlabelled digit 9 | g = 0), P(… | g = 1)
    group_rate: float = 0.5  # share of images with g = 1
    n_train: int = 1000
    n_validation: int = 300
    n_test: int = 300
    seed: int = 0

    def validate(self):
        check(
            1 <= len(self.rates_g0) == len(self.rates_g1) <= 6,
            f"rates_g0 and rates_g1 must have equal lengths in [1, 6] (one rate per object), "
            f"got {len(self.rates_g0)} and {len(self.rates_g1)}",
        )
        for name in ("rates_g0", "rates_g1"):
            for rate in getattr(self, name):
                check_range(name, rate, 0, 1)
        check(len(self.hidden_rates) == 2, f"hidden_rates must hold 2 rates (g = 0, g = 1), got {self.hidden_rates}")
        for rate in self.hidden_rates:
            check_range("hidden_rates", rate, 0, 1)
        check(isinstance(self.hidden, bool), f"hidden must be true or false, got {self.hidden!r}")
        check_range("group_rate", self.group_rate, 0, 1, open_low=True, open_high=True)
        for name in ("n_train", "n_validation", "n_test"):
            check_range(name, getattr(self, name), 4, 100_000, integer=True)
        check_range("seed", self.seed, 0, None, integer=True)

    def build(self, data_root=None) -> Task:
        source = load_source("digits", data_root)
        generator = torch.Generator().manual_seed(self.seed)
        sizes = {"train": self.n_train, "validation": self.n_validation, "test": self.n_test}
        made = {
            name: _canvases(n, self, *source.split("test" if name == "test" else "train"), generator)
            for name, n in sizes.items()
        }
        train, val, test = (made[name][0] for name in sizes)
        mean, std = channel_stats(train.images)
        info = {
            "num_labels": len(self.rates_g0),
            "person_boxes": {name: parts[1] for name, parts in made.items()},  # (N, 4) x0, y0, x1, y1 in pixels
            "hidden_object": {name: parts[2] for name, parts in made.items()},  # (N,) bool: the unlabelled digit 9
        }
        return Task("wang-coco-standin", train, test, mean, std, info, evaluator="multilabel", validation=val)


@register_evaluator("multilabel")
def multilabel_metrics(task: Task, split: str, outputs: torch.Tensor) -> dict:
    """mAP (mean over labels of the average precision of the logits) and macro-F1 of the discrete predictions
    (logit > 0, i.e. sigmoid > ½), Wang et al. §4.1 "Metrics", over the first ``info["num_labels"]`` columns. A
    label without a positive in the split has no average precision and is left out of the mAP. A further column
    is a jointly predicted gender logit (``MultiLabelBCE(gender=True)``): its accuracy is ``gender_accuracy``."""
    if isinstance(outputs, dict):  # a method that reports more than the logits (wang_adversarial's mask)
        outputs = outputs["logits"]
    part = task.split(split)
    labels = part.labels.numpy()
    k = labels.shape[1]
    scores = outputs.float().numpy()
    present = labels.sum(0) > 0
    ap = [average_precision_score(labels[:, j], scores[:, j]) for j in np.flatnonzero(present)]
    metrics = {"mAP": float(np.mean(ap)) if ap else float("nan"), "F1": M.macro_f1(labels, scores[:, :k] > 0)}
    if scores.shape[1] > k:
        metrics["gender_accuracy"] = float(((scores[:, k] > 0) == part.groups.numpy().astype(bool)).mean())
    return metrics


class MultiLabelObjective(Objective):
    """L sigmoid outputs, binary cross-entropy averaged over labels; with ``gender`` one more sigmoid output
    predicts g, its cross-entropy counted as one more label. Reports the pre-activation logits (K, B, L[+1])."""

    def __init__(self, num_labels: int, gender: bool = False):
        self.num_outputs = num_labels + int(gender)
        self.gender = gender

    def loss(self, model, extra, batch):
        logits = model(batch.x).float()
        targets = batch.labels.float()
        if self.gender:
            targets = torch.cat([targets, batch.groups.float()[..., None]], -1)
        per_image = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(-1)
        return per_image.mean(1)

    def predict(self, model, extra, x, groups):
        return model(x).float()


@register_method("multilabel_bce")
@dataclass(frozen=True)
class MultiLabelBCE(MethodSpec):
    """Multi-label classification (Wang et al. §4.1): one sigmoid output per label of ``info["num_labels"]``,
    binary cross-entropy; batch transforms that mix labels are not supported (the targets are the label vectors).
    ``gender=True`` predicts g jointly with the labels (Table 1's "original" rows, whose models predict gender
    as one more output; the paper's CRF of Zhao et al. 2017 is chapter W-T3's)."""

    gender: bool = False

    def validate(self):
        check(isinstance(self.gender, bool), f"gender must be true or false, got {self.gender!r}")

    @classmethod
    def objective(cls, specs, tasks):
        return MultiLabelObjective(tasks[0].info["num_labels"], specs[0].gender)
