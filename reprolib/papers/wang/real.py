"""The real data of Wang et al. (2019), §4.1, as multi-label tasks: COCO 2014 objects and imSitu verbs, each image
with the gender of its person, read from user-given folders.

- ``wang_coco``: the images of COCO 2014 that hold a person and whose captions give a gender (Zhao et al.
  2017's rule, ``reprolib.coco.caption_gender``), labelled with the 79 other objects ("person" excluded, §4.1);
  train from ``train2014``, dev and test the two halves (seeded) of ``val2014`` (Zhao et al.'s split; the paper:
  22,826 / 5,367 / 5,473 images); ``info["person_boxes"]`` holds every image's person boxes from the instances
  (``wang_person_masked``'s blackout and blur, §5.3 "Blackout - Box" and "Blur").
- ``wang_imsitu``: imSitu's ``train.json`` / ``dev.json`` / ``test.json`` (https://github.com/my89/imSitu) and its
  images (``of500_images_resized/``): the label is the image's verb (one-hot over the verbs of the training
  split), g the gender of the agent — an image is kept when the majority of its three frames name the agent
  ``man`` (WordNet n10287213) or ``woman`` (n10787470), Zhao et al.'s agent rule as this book reads it.

Images are decoded with Pillow, resized (shorter side) and centre-cropped to ``image_size`` pixels, uint8
RGB. A missing folder or file stops with one line naming the folder and the download page.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.transforms.functional import center_crop, pil_to_tensor, resize

from ...coco import NO_GENDER, caption_gender, check_coco, read_coco
from ...sources import SourceUnavailable, default_data_root
from ...specs import TaskSpec, check_range, register_task
from ...tasks import Split, Task, channel_stats

__all__ = [
    "WangCoco",
    "WangImSitu",
    "load_images",
    "load_images_with_boxes",
    "fit_boxes",
    "agent_gender",
    "IMSITU_PAGE",
    "MAN_AGENT",
    "WOMAN_AGENT",
]

IMSITU_PAGE = "https://github.com/my89/imSitu"
MAN_AGENT, WOMAN_AGENT = "n10287213", "n10787470"  # WordNet man.n.01, woman.n.01


def _load(path, image_size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """One file decoded as RGB (Pillow; torchvision's decoders are deprecated), its shorter side resized to S
    (bilinear, antialiased), centre-cropped; and its original (height, width)."""
    from PIL import Image

    with Image.open(path) as file:
        image = pil_to_tensor(file.convert("RGB"))
    cropped = center_crop(resize(image, [image_size], antialias=True), [image_size, image_size])
    return cropped, (image.shape[1], image.shape[2])


def load_images(paths, image_size: int) -> torch.Tensor:
    """uint8 (N, 3, S, S): each file decoded, resized and centre-cropped as ``_load`` does."""
    out = torch.empty(len(paths), 3, image_size, image_size, dtype=torch.uint8)
    for i, path in enumerate(paths):
        out[i] = _load(path, image_size)[0]
    return out


def fit_boxes(boxes: np.ndarray, height: int, width: int, image_size: int) -> np.ndarray:
    """(n, 4) boxes x0, y0, x1, y1 in the pixels of a (height, width) image → the same boxes in the pixels of
    its resized and centre-cropped S × S version (``_load``; torchvision's ``resize`` and ``center_crop``
    geometry), widened to whole pixels and clipped to the crop."""
    if width <= height:
        new_w, new_h = image_size, int(image_size * height / width)
    else:
        new_w, new_h = int(image_size * width / height), image_size
    top, left = int(round((new_h - image_size) / 2)), int(round((new_w - image_size) / 2))
    sy, sx = new_h / height, new_w / width
    x0, y0 = np.floor(boxes[:, 0] * sx - left), np.floor(boxes[:, 1] * sy - top)
    x1, y1 = np.ceil(boxes[:, 2] * sx - left), np.ceil(boxes[:, 3] * sy - top)
    return np.clip(np.stack([x0, y0, x1, y1], axis=1), 0, image_size).astype(np.int64)


def load_images_with_boxes(paths, boxes, image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``load_images`` and each image's boxes (a list of (n_i, 4) arrays in its own pixels) fitted to the crop
    (``fit_boxes``) as one int64 (N, M, 4) tensor, M the most boxes of an image (at least 1), padded with empty
    boxes (0, 0, 0, 0)."""
    images = torch.empty(len(paths), 3, image_size, image_size, dtype=torch.uint8)
    fitted = torch.zeros(len(paths), max([1, *(len(b) for b in boxes)]), 4, dtype=torch.int64)
    for i, (path, own) in enumerate(zip(paths, boxes, strict=True)):
        images[i], (height, width) = _load(path, image_size)
        own = np.asarray(own, dtype=float).reshape(-1, 4)
        fitted[i, : len(own)] = torch.as_tensor(fit_boxes(own, height, width, image_size))
    return images, fitted


def _split_in_two(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2 :])


def _task(name, parts: dict, info: dict) -> Task:
    mean, std = channel_stats(parts["train"].images)
    return Task(
        name, parts["train"], parts["test"], mean, std, info, evaluator="multilabel", validation=parts["validation"]
    )


def _split(images, labels, groups) -> Split:
    labels = torch.as_tensor(labels, dtype=torch.int64)
    return Split(images, labels, torch.as_tensor(groups, dtype=torch.int64), labels)


@register_task("wang_coco")
@dataclass(frozen=True)
class WangCoco(TaskSpec):
    """COCO 2014 people with a caption gender, 79 object labels (module docstring), from ``root`` (default: the
    data folder's ``coco/``); ``max_images`` caps each split (0: all), ``seed`` cuts val2014 into dev and test."""

    root: str | None = None
    image_size: int = 224
    max_images: int = 0
    seed: int = 0

    def validate(self):
        check_range("image_size", self.image_size, 8, 1024, integer=True)
        check_range("max_images", self.max_images, 0, None, integer=True)
        check_range("seed", self.seed, 0, None, integer=True)

    def folder(self, data_root=None) -> Path:
        return Path(self.root).expanduser() if self.root else Path(data_root or default_data_root()) / "coco"

    def require(self, data_root=None) -> None:
        """Stop (``SourceUnavailable``, one line naming the folder and the download page) unless the files are
        there; reads none of them."""
        check_coco(self.folder(data_root))

    def build(self, data_root=None) -> Task:
        folder = self.folder(data_root)
        parts, boxes = {}, {}
        for split in ("train", "val"):
            coco = read_coco(folder, split)
            person = coco.column("person")
            gender = np.array([caption_gender(c) for c in coco.captions])
            keep = np.flatnonzero((coco.objects[:, person] == 1) & (gender != NO_GENDER))
            objects = np.delete(coco.objects, person, axis=1)
            halves = _split_in_two(len(keep), self.seed) if split == "val" else (np.arange(len(keep)),)
            for name, half in zip(("validation", "test") if split == "val" else ("train",), halves, strict=True):
                rows = keep[half][: self.max_images or None]
                images, boxes[name] = load_images_with_boxes(
                    [coco.image_path(i) for i in rows],
                    [coco.category_boxes(i, "person") for i in rows],
                    self.image_size,
                )
                parts[name] = _split(images, objects[rows], gender[rows])
        categories = [c for c in coco.categories if c != "person"]
        info = {"num_labels": len(categories), "label_names": categories, "person_boxes": boxes}
        return _task("wang-coco", parts, info)


def _imsitu_files(folder: Path) -> dict[str, Path]:
    files = {"train": folder / "train.json", "validation": folder / "dev.json", "test": folder / "test.json"}
    images = folder / "of500_images_resized"
    if not all(f.exists() for f in files.values()) or not images.is_dir():
        raise SourceUnavailable(
            f"imSitu is not in {folder}: put train.json, dev.json, test.json and of500_images_resized/ there "
            f"(from {IMSITU_PAGE})"
        )
    return files


def agent_gender(frames) -> int:
    """1 (man) or 0 (woman) when most of an image's frames name that agent, −1 otherwise."""
    votes = Counter(frame.get("agent") for frame in frames)
    majority = len(frames) // 2 + 1
    if votes[MAN_AGENT] >= majority:
        return 1
    if votes[WOMAN_AGENT] >= majority:
        return 0
    return -1


@register_task("wang_imsitu")
@dataclass(frozen=True)
class WangImSitu(TaskSpec):
    """imSitu's images whose agent is a man or a woman, the verb as a one-hot label (module docstring), from
    ``root`` (default: the data folder's ``imsitu/``); ``max_images`` caps each split (0: all)."""

    root: str | None = None
    image_size: int = 224
    max_images: int = 0

    def validate(self):
        check_range("image_size", self.image_size, 8, 1024, integer=True)
        check_range("max_images", self.max_images, 0, None, integer=True)

    def folder(self, data_root=None) -> Path:
        return Path(self.root).expanduser() if self.root else Path(data_root or default_data_root()) / "imsitu"

    def require(self, data_root=None) -> None:
        """Stop (``SourceUnavailable``, one line naming the folder and the download page) unless the files are
        there; reads none of them."""
        _imsitu_files(self.folder(data_root))

    def build(self, data_root=None) -> Task:
        folder = self.folder(data_root)
        files = _imsitu_files(folder)
        annotations = {name: json.loads(path.read_text()) for name, path in files.items()}
        verbs = sorted({a["verb"] for a in annotations["train"].values()})
        column = {v: j for j, v in enumerate(verbs)}
        parts = {}
        for name, entries in annotations.items():
            kept = [
                (image, column[a["verb"]], agent_gender(a["frames"]))
                for image, a in sorted(entries.items())
                if a["verb"] in column and agent_gender(a["frames"]) >= 0
            ][: self.max_images or None]
            labels = np.zeros((len(kept), len(verbs)), dtype=np.int64)
            labels[np.arange(len(kept)), [k[1] for k in kept]] = 1
            images = load_images([folder / "of500_images_resized" / k[0] for k in kept], self.image_size)
            parts[name] = _split(images, labels, [k[2] for k in kept])
        return _task("wang-imsitu", parts, {"num_labels": len(verbs), "label_names": verbs})
