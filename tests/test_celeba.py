import numpy as np
import pytest
import torch
from PIL import Image

from reprolib.papers.kurmi.celeba import make_celeba_task
from reprolib.papers.kurmi.skew_tasks import aligned_mask
from reprolib.sources import SourceUnavailable

ATTRIBUTES = ["Blond_Hair", "Heavy_Makeup", "Male"]  # the real file has 40 columns; the reader needs these


def _write_celeba(root, rows):
    """CelebA in torchvision's on-disk layout: attribute file (count, header, ±1 rows), partition file, JPEGs."""
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    lines = [str(len(rows)), " ".join(ATTRIBUTES)]
    partitions = []
    for i, (partition, blond, makeup, male) in enumerate(rows):
        name = f"{i + 1:06d}.jpg"
        values = [1 if v else -1 for v in (blond, makeup, male)]
        lines.append(f"{name} " + " ".join(f"{v:2d}" for v in values))
        partitions.append(f"{name} {partition}")
        image = np.full((218, 178, 3), 40 * i % 255, dtype=np.uint8)
        Image.fromarray(image).save(folder / "img_align_celeba" / name)
    (folder / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (folder / "list_eval_partition.txt").write_text("\n".join(partitions) + "\n")


def test_celeba_task_from_tiny_files_in_the_real_format(tmp_path):
    # train: makeup mostly on women (3 of 4), no makeup mostly on men (2 of 3); test: one of each combination
    rows = [
        (0, 0, 1, 0),
        (0, 0, 1, 0),
        (0, 0, 1, 0),
        (0, 0, 1, 1),
        (0, 0, 0, 1),
        (0, 0, 0, 1),
        (0, 0, 0, 0),
        (1, 0, 1, 0),
        (2, 0, 1, 0),
        (2, 0, 1, 1),
        (2, 0, 0, 1),
        (2, 0, 0, 0),
    ]
    _write_celeba(tmp_path, rows)
    task = make_celeba_task("HeavyMakeup", image_size=16, root=tmp_path)
    assert task.train.images.shape == (7, 3, 16, 16) and task.train.images.dtype == torch.uint8
    assert task.train.labels.tolist() == [1, 1, 1, 1, 0, 0, 0]
    assert task.info["aligned_group"] == [1, 0]  # no makeup ↔ male, makeup ↔ female
    assert task.info["skew"] == pytest.approx(5 / 7)
    assert aligned_mask(task).tolist() == [True, False, True, False]
    validation = make_celeba_task("HeavyMakeup", image_size=16, root=tmp_path, split="validation")
    assert len(validation.test) == 1


def test_celeba_absent_names_the_folder_and_the_download_page(tmp_path):
    with pytest.raises(SourceUnavailable, match=r"CelebA is not in .*celeba.*mmlab\.ie\.cuhk\.edu\.hk"):
        make_celeba_task("HairColor", root=tmp_path)


def test_celeba_unknown_target():
    with pytest.raises(ValueError, match="target must be one of HeavyMakeup, HairColor"):
        make_celeba_task("Smiling")
