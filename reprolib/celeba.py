"""CelebA's annotation files, read as pandas tables (shared by every paper that uses CelebA).

CelebA needs an account to download (``CELEBA_PAGE``), so the book reads it from a folder the user gives, in
torchvision's layout (``torchvision.datasets.CelebA``): ``<root>/celeba/img_align_celeba/*.jpg`` beside the
annotation files. This module reads the annotation files and decodes images; what a paper builds from them
(attribute tasks, identity tasks) lives in the paper's package.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

__all__ = ["CELEBA_PAGE", "read_attributes", "read_identities", "decode_images"]

CELEBA_PAGE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"


def read_attributes(path: str | Path) -> pd.DataFrame:
    """``list_attr_celeba.txt``: a count line, a header of 40 attribute names, then one row per image of ±1
    values; returned as 0/1 int64 columns indexed by file name."""
    attributes = pd.read_csv(path, sep=r"\s+", skiprows=1)
    return (attributes > 0).astype(np.int64)


def read_identities(path: str | Path) -> pd.Series:
    """``identity_CelebA.txt``: one line per image, ``<file name> <identity>``; the identity of every image
    (int64), indexed by file name."""
    table = pd.read_csv(path, sep=r"\s+", header=None, index_col=0, names=["file", "identity"])
    return table["identity"].astype(np.int64)


def decode_images(folder: Path, names, size: int) -> torch.Tensor:
    """The aligned images ``names`` of ``folder`` as uint8 (N, 3, size, size): centre-cropped to a square of at
    most 178 pixels (the aligned images are 178 × 218), then resized bilinearly."""
    from PIL import Image

    out = np.empty((len(names), 3, size, size), dtype=np.uint8)
    for i, name in enumerate(names):
        with Image.open(folder / name) as image:
            image = image.convert("RGB")
            w, h = image.size
            side = min(w, h, 178)
            left, top = (w - side) // 2, (h - side) // 2
            image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
            out[i] = np.asarray(image).transpose(2, 0, 1)
    return torch.from_numpy(out)
