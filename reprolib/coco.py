"""COCO 2014 from a user-given folder: images, per-image object labels (instances), gender from the captions.

COCO's annotations come from https://cocodataset.org/#download ("2014 Train/Val annotations"; images "2014
Train images" / "2014 Val images"), laid out as the archives unpack::

    <root>/annotations/instances_train2014.json   <root>/annotations/captions_train2014.json
    <root>/train2014/COCO_train2014_000000000009.jpg   (and the same for val)

``read_coco(root, split)`` returns every image of the split with its object labels, boxes and captions;
``caption_gender`` labels an image's gender from its captions by Zhao et al. (2017)'s rule, as Choi et al. (§4.1)
and Wang et al. (2019, §4.1) use it: "man" when some caption mentions a man word and none a woman word, "woman"
the other way round, and neither when no caption or both kinds do (such images are dropped).

The word lists are not documented anywhere we could find. Sources checked: Zhao et al. (2017) print none; their
code (github.com/uclanlp/reducingbias) ships COCO's gender labels already computed (``data/COCO/*.data``), and
its only gender word lists, ``m = ['man']`` and ``f = ['woman']`` in ``src/config.ini``, label imSitu's agent
nouns, not COCO captions; Wang et al.'s code (github.com/uvavision/Balanced-Datasets-Are-Not-Enough) reads those
precomputed labels (``object_multilabel/data/*.data``) and holds no list; no code of Choi et al. is public, and
their §4.1 names only "the term 'man' or 'woman'". ``MAN_WORDS`` and ``WOMAN_WORDS`` are therefore this book's
choice, the singular and plural nouns of each gender; Choi et al.'s literal reading is
``caption_gender(captions, ("man",), ("woman",))``. The reader is plain ``json``: pycocotools is not needed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .sources import SourceUnavailable

__all__ = [
    "CocoImages",
    "read_coco",
    "check_coco",
    "caption_gender",
    "MAN",
    "WOMAN",
    "NO_GENDER",
    "MAN_WORDS",
    "WOMAN_WORDS",
]

COCO_PAGE = "https://cocodataset.org/#download"
SPLITS = ("train", "val")
MAN_WORDS = ("man", "men", "boy", "boys", "male", "gentleman", "gentlemen", "guy", "guys")
WOMAN_WORDS = ("woman", "women", "girl", "girls", "female", "lady", "ladies")
MAN, WOMAN, NO_GENDER = 1, 0, -1


@dataclass(frozen=True)
class CocoImages:
    """The images of one COCO 2014 split, sorted by id: ``objects`` (N, C) 0/1, C = the categories in id order."""

    root: Path
    split: str
    ids: np.ndarray  # (N,) int64 image ids
    file_names: list[str]
    categories: list[str]  # category names, in the order of their ids
    objects: np.ndarray  # (N, C) int64: category c annotated in image i
    captions: list[list[str]]  # every image's captions
    boxes: list[np.ndarray] = field(default_factory=list)  # per image (n, 5): column, x, y, width, height (pixels)

    def image_path(self, i: int) -> Path:
        return self.root / f"{self.split}2014" / self.file_names[i]

    def column(self, name: str) -> int:
        """The column of category ``name`` in ``objects``; ValueError naming the accepted ones."""
        if name not in self.categories:
            raise ValueError(f"unknown COCO category {name!r}; accepted: {', '.join(self.categories)}")
        return self.categories.index(name)

    def category_boxes(self, i: int, name: str) -> np.ndarray:
        """(n, 4) float boxes x0, y0, x1, y1 (pixels of the stored image) of every ``name`` annotated in image i."""
        boxes = self.boxes[i]
        chosen = boxes[boxes[:, 0] == self.column(name), 1:]
        return np.concatenate([chosen[:, :2], chosen[:, :2] + chosen[:, 2:]], axis=1)


def _annotation_files(root: Path, split: str) -> tuple[Path, Path]:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    files = (root / "annotations" / f"instances_{split}2014.json", root / "annotations" / f"captions_{split}2014.json")
    if not all(f.exists() for f in files):
        raise _unavailable(root, split)
    return files


def _unavailable(root: Path, split: str) -> SourceUnavailable:
    return SourceUnavailable(
        f"COCO 2014 is not in {root}: put annotations/instances_{split}2014.json, "
        f"annotations/captions_{split}2014.json and {split}2014/ there (from {COCO_PAGE})"
    )


def check_coco(root, splits=SPLITS) -> None:
    """Raise ``SourceUnavailable`` (one line naming the folder and the download page) unless ``root`` holds the
    annotation files and the image folder of every split of ``splits``; reads no file (a check before training)."""
    root = Path(root).expanduser()
    for split in splits:
        _annotation_files(root, split)
        if not (root / f"{split}2014").is_dir():
            raise _unavailable(root, split)


def read_coco(root, split: str = "train") -> CocoImages:
    """Every image of COCO 2014's ``split`` (``train`` or ``val``) under ``root`` (module docstring); a missing
    folder or file raises ``sources.SourceUnavailable`` in one line naming the folder and the download page."""
    root = Path(root).expanduser()
    instances_file, captions_file = _annotation_files(root, split)
    instances = json.loads(instances_file.read_text())
    captions = json.loads(captions_file.read_text())
    images = sorted(instances["images"], key=lambda im: im["id"])
    row = {im["id"]: i for i, im in enumerate(images)}
    categories = sorted(instances["categories"], key=lambda c: c["id"])
    column = {c["id"]: j for j, c in enumerate(categories)}
    objects = np.zeros((len(images), len(categories)), dtype=np.int64)
    boxes: list[list[list[float]]] = [[] for _ in images]
    for annotation in instances["annotations"]:
        i, j = row[annotation["image_id"]], column[annotation["category_id"]]
        objects[i, j] = 1
        if "bbox" in annotation:
            boxes[i].append([j, *annotation["bbox"]])
    texts: list[list[str]] = [[] for _ in images]
    for annotation in captions["annotations"]:
        if annotation["image_id"] in row:
            texts[row[annotation["image_id"]]].append(annotation["caption"])
    return CocoImages(
        root,
        split,
        np.array([im["id"] for im in images], dtype=np.int64),
        [im["file_name"] for im in images],
        [c["name"] for c in categories],
        objects,
        texts,
        [np.array(b, dtype=np.float64).reshape(-1, 5) for b in boxes],
    )


def caption_gender(captions, man_words=MAN_WORDS, woman_words=WOMAN_WORDS) -> int:
    """``MAN`` (1) when some caption holds a word of ``man_words`` and none a word of ``woman_words``, ``WOMAN``
    (0) the other way round, ``NO_GENDER`` (−1) otherwise (Zhao et al. 2017). Words are the lower-cased runs of
    letters, so "man's" holds "man" and "woman" does not."""
    words = {w for caption in captions for w in re.findall(r"[a-z]+", caption.lower())}
    has_man, has_woman = bool(words & set(man_words)), bool(words & set(woman_words))
    if has_man == has_woman:
        return NO_GENDER
    return MAN if has_man else WOMAN
