"""The paper's data (§4.1): COCO 2014 images with a person and one of the 11 objects, gender from the captions,
embedded by a ResNet-34.

Filter (§4.1): an image is kept when it is annotated with ``person`` and with at least one of the ``objects``, and
its captions name exactly one gender (``reprolib.coco.caption_gender``: images mentioning both are dropped);
each image once, whichever objects it holds. Embeddings: the 512-d global-average-pooled features of
torchvision's ResNet-34 on the image resized (shorter side) and centre-cropped to ``image_size``, normalised with
ImageNet's statistics. ImageNet weights are used when torchvision's file is already in the torch hub cache
(``torch.hub.get_dir()/checkpoints``; nothing is downloaded); otherwise the network keeps its seeded random
initialisation and the task's ``info["weights"]`` says so. The embeddings are a stored artifact
(``CocoEmbeddings``), computed once per folder and configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...artifacts import ArtifactSpec, load_artifact, register_artifact
from ...coco import MAN, WOMAN, caption_gender, read_coco
from ...sources import default_data_root
from ...specs import TaskSpec, check_range, register_task
from .embeddings import check_objects_field, check_split_fields, embedding_task
from .labels import OBJECTS

__all__ = ["ChoiCoco", "CocoEmbeddings", "select_images", "imagenet_weights_file"]

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def select_images(coco, objects) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of ``coco`` kept by §4.1's filter (module docstring), their (N, K) object labels and (N,) man labels."""
    person = coco.objects[:, coco.column("person")] == 1
    columns = [coco.column(o) for o in objects]
    chosen = coco.objects[:, columns]
    gender = np.array([caption_gender(c) for c in coco.captions], dtype=np.int64)
    keep = np.flatnonzero(person & (chosen.sum(1) > 0) & np.isin(gender, (MAN, WOMAN)))
    return keep, chosen[keep], (gender[keep] == MAN).astype(np.int64)


def imagenet_weights_file() -> Path:
    """Where torchvision keeps ResNet-34's ImageNet weights once downloaded."""
    from torchvision.models import ResNet34_Weights

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(ResNet34_Weights.IMAGENET1K_V1.url).name


def _resnet34(seed: int) -> tuple[torch.nn.Module, bool]:
    from torchvision.models import resnet34

    torch.manual_seed(seed)
    net = resnet34()
    path = imagenet_weights_file()
    pretrained = path.exists()
    if pretrained:
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    net.fc = torch.nn.Identity()
    return net.eval(), pretrained


def _load_image(path: Path, size: int) -> torch.Tensor:
    from PIL import Image
    from torchvision.transforms.v2 import functional as TF

    with Image.open(path) as file:
        image = TF.pil_to_tensor(file.convert("RGB"))
    image = TF.center_crop(TF.resize(image, size, antialias=True), size)
    return TF.normalize(image.float() / 255, IMAGENET_MEAN, IMAGENET_STD)


@register_artifact("choi_coco_embeddings")
@dataclass(frozen=True)
class CocoEmbeddings(ArtifactSpec):
    """ResNet-34 embeddings of the images §4.1 keeps (module docstring). Arrays: ``embeddings`` (N, 512),
    ``objects`` (N, K), ``man`` (N,), ``image_ids`` (N,), ``imagenet`` (1 when ImageNet weights were used)."""

    root: str = ""
    split: str = "train"  # §4.1: "the 2014 MS-COCO training set"
    objects: tuple[str, ...] = OBJECTS
    image_size: int = 224
    batch_size: int = 64

    def compute(self, data_root) -> dict[str, np.ndarray]:
        coco = read_coco(self.root, self.split)
        keep, objects, man = select_images(coco, self.objects)
        net, pretrained = _resnet34(0)
        features = []
        with torch.no_grad():
            for start in range(0, len(keep), self.batch_size):
                rows = keep[start : start + self.batch_size]
                batch = torch.stack([_load_image(coco.image_path(i), self.image_size) for i in rows])
                features.append(net(batch))
        embeddings = torch.cat(features).numpy() if features else np.zeros((0, 512), dtype=np.float32)
        return {
            "embeddings": embeddings,
            "objects": objects,
            "man": man,
            "image_ids": coco.ids[keep],
            "imagenet": np.array([int(pretrained)]),
        }


@register_task("choi_coco")
@dataclass(frozen=True)
class ChoiCoco(TaskSpec):
    """COCO 2014 embeddings (module docstring) from ``root`` (default: the data folder's ``coco/``), split 85/15
    (§4.1) with ``validation_share`` of the training part held out."""

    root: str | None = None
    objects: tuple[str, ...] = OBJECTS
    image_size: int = 224
    test_share: float = 0.15
    validation_share: float = 0.15
    seed: int = 0

    def validate(self):
        check_objects_field(self.objects)
        check_range("image_size", self.image_size, 32, 1024, integer=True)
        check_split_fields(self)

    def folder(self, data_root) -> Path:
        return Path(self.root) if self.root else Path(data_root or default_data_root()) / "coco"

    def build(self, data_root=None):
        folder = self.folder(data_root)
        arrays = load_artifact(
            CocoEmbeddings(root=str(folder), objects=self.objects, image_size=self.image_size), data_root=data_root
        )
        weights = "ImageNet" if arrays["imagenet"][0] else f"random: no ImageNet weights at {imagenet_weights_file()}"
        info = {"task_spec": self, "data_root": data_root, "weights": weights, "image_ids": arrays["image_ids"]}
        return embedding_task(
            "choi-coco",
            arrays["embeddings"].astype(np.float64),
            arrays["objects"],
            arrays["man"],
            self.objects,
            self.seed,
            self.test_share,
            self.validation_share,
            info,
        )
