"""CelebA attribute tasks with gender as the bias attribute (Kurmi et al. 2022, Table 3; after Nam et al. 2020).

CelebA needs an account to download, so it is read from a folder the user gives, in torchvision's layout
(``torchvision.datasets.CelebA``): ``<root>/celeba/img_align_celeba/*.jpg``, ``list_attr_celeba.txt`` and
``list_eval_partition.txt``. Targets: ``HeavyMakeup`` (attribute Heavy_Makeup) and ``HairColor`` (Blond_Hair,
as in Nam et al.); the bias attribute is Male. Images are centre-cropped to 178×178 and resized.

Aligned and conflicting cells. Kurmi et al. call an image bias-aligned when it follows "the dominant bias in the
dataset" (§Bias in Machine Learning), and Nam et al. (2020) in their text likewise: blond women and non-blond men
are aligned. So the aligned gender of a target value is the gender *over-represented* among that value relative
to the whole training partition, P(gender | value) > P(gender) (``alignment="correlation"``): blond → female,
non-blond → male; makeup → female, no makeup → male. It is not the majority gender of each value: women are the
majority of non-blond people too (51.7%), which would make every woman aligned and every man conflicting. LfF's
released code marks as aligned the diagonal cells of its (target, bias) accuracy matrix, value index = gender
index, which on CelebA (Male = 1) are blond men and non-blond women; that reading is offered as
``alignment="diagonal"``. Accuracies are averaged over the four (target, gender) cells
(``skew_tasks.cell_accuracies``), as LfF averages its per-cell accuracies, so the naturally biased partitions are
weighed as an unbiased test set would be.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pandas as pd
import torch

from ...celeba import CELEBA_PAGE, decode_images, read_attributes
from ...sources import SourceUnavailable, default_data_root
from ...specs import TaskSpec, check, check_choice, check_range, register_task
from ...tasks import Split, Task, channel_stats
from .skew_tasks import skew_info

__all__ = [
    "ALIGNMENTS",
    "CELEBA_TARGETS",
    "CelebaTask",
    "aligned_genders",
    "load_celeba_attributes",
    "make_celeba_task",
    "CELEBA_PAGE",
]

CELEBA_TARGETS = {"HeavyMakeup": "Heavy_Makeup", "HairColor": "Blond_Hair"}
BIAS_ATTRIBUTE = "Male"
PARTITIONS = {"train": 0, "validation": 1, "test": 2}
ALIGNMENTS = ("correlation", "diagonal")


def _folder(root) -> Path:
    folder = Path(root if root is not None else default_data_root()) / "celeba"
    needed = [folder / "list_attr_celeba.txt", folder / "list_eval_partition.txt", folder / "img_align_celeba"]
    if not all(p.exists() for p in needed):
        raise SourceUnavailable(
            f"CelebA is not in {folder}: put img_align_celeba/, list_attr_celeba.txt and list_eval_partition.txt "
            f"there (from {CELEBA_PAGE}, an account is needed) or pass root=/path/containing/celeba"
        )
    return folder


def load_celeba_attributes(root=None) -> pd.DataFrame:
    """The 40 attributes (0/1) of every image, indexed by file name, with its ``partition`` (0 train, 1 valid,
    2 test)."""
    folder = _folder(root)
    attributes = read_attributes(folder / "list_attr_celeba.txt")
    partition = pd.read_csv(folder / "list_eval_partition.txt", sep=r"\s+", header=None, index_col=0).iloc[:, 0]
    attributes["partition"] = partition.reindex(attributes.index).to_numpy()
    return attributes


@functools.lru_cache(maxsize=4)
def _partition_images(folder: Path, partition: int, size: int) -> torch.Tensor:
    """The images of one partition, decoded once per process, folder and size (every seed and target of a sweep
    shares them)."""
    attributes = load_celeba_attributes(folder.parent)
    return _images(folder, attributes.index[attributes["partition"] == partition], size)


def _images(folder: Path, names, size: int) -> torch.Tensor:
    return decode_images(folder / "img_align_celeba", names, size)


def aligned_genders(labels: torch.Tensor, genders: torch.Tensor, alignment: str = "correlation") -> list[int]:
    """The aligned gender (0 female, 1 male) of target values 0 and 1. ``correlation``: the gender whose share
    among the value's training images exceeds its share among all of them (the dominant bias; Kurmi et al.,
    Nam et al.); ``diagonal``: gender index = value index (LfF's released code, ``eye`` of its accuracy
    matrix)."""
    if alignment not in ALIGNMENTS:
        raise ValueError(f"alignment must be one of {', '.join(ALIGNMENTS)}, got {alignment!r}")
    if alignment == "diagonal":
        return [0, 1]
    male_share = genders.float().mean()
    return [int(genders[labels == c].float().mean() > male_share) for c in (0, 1)]


def make_celeba_task(
    target: str, image_size: int = 64, root=None, split: str = "test", alignment: str = "correlation"
) -> Task:
    """Predict ``target`` (HeavyMakeup or HairColor) with gender (Male) as the bias attribute; the aligned gender
    of each target value from ``aligned_genders``. ``split="validation"`` evaluates on CelebA's validation
    partition instead of its test partition (for choosing hyperparameters)."""
    if target not in CELEBA_TARGETS:
        raise ValueError(f"target must be one of {', '.join(CELEBA_TARGETS)}, got {target!r}")
    if alignment not in ALIGNMENTS:
        raise ValueError(f"alignment must be one of {', '.join(ALIGNMENTS)}, got {alignment!r}")
    if split not in ("test", "validation"):
        raise ValueError(f"split must be test or validation, got {split!r}")
    attributes = load_celeba_attributes(root)
    folder = _folder(root)
    column = CELEBA_TARGETS[target]

    def part(partition: int) -> Split:
        rows = attributes[attributes["partition"] == partition]
        labels = torch.tensor(rows[column].to_numpy())
        groups = torch.tensor(rows[BIAS_ATTRIBUTE].to_numpy())
        return Split(_partition_images(folder, partition, image_size), labels, groups, labels)

    train, test = part(PARTITIONS["train"]), part(PARTITIONS[split])
    aligned_group = aligned_genders(train.labels, train.groups, alignment)
    aligned = train.groups == torch.as_tensor(aligned_group)[train.labels]
    mean, std = channel_stats(train.images)
    info = skew_info(2, 2, aligned_group, float(aligned.float().mean()), target=target, alignment=alignment)
    return Task(f"celeba-{target}", train, test, mean, std, info, evaluator="skew")


@register_task("celeba")
@dataclass(frozen=True)
class CelebaTask(TaskSpec):
    """A CelebA attribute task (``make_celeba_task``), read from ``root`` (default: the data folder). Its images
    do not depend on any seed, so it has none."""

    version: ClassVar[int] = 2  # 2: aligned cells by correlation, accuracies averaged over cells

    target: str = "HeavyMakeup"
    image_size: int = 64
    root: str | None = None
    split: str = "test"
    alignment: str = "correlation"

    def validate(self):
        check_choice("target", self.target, tuple(CELEBA_TARGETS))
        check_range("image_size", self.image_size, 8, 512, integer=True)
        check(self.root is None or isinstance(self.root, str), f"root must be a folder path or None, got {self.root!r}")
        check_choice("split", self.split, ("test", "validation"))
        check_choice("alignment", self.alignment, ALIGNMENTS)

    def build(self, data_root):
        return make_celeba_task(self.target, self.image_size, self.root or data_root, self.split, self.alignment)
