import numpy as np
import pytest
import torch
from PIL import Image

from reprolib.papers.kurmi.celeba import make_celeba_task
from reprolib.papers.kurmi.skew_tasks import aligned_mask, skew_metrics
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


def test_haircolor_cells_follow_the_correlation_not_the_majority(tmp_path):
    """Women are the majority of blond *and* of non-blond people (as in CelebA: 94% and 51.7%); the aligned
    cells are blond-female and non-blond-male (the dominant bias), not "every woman"."""
    # train (partition 0): blond 3 F; non-blond 3 F, 2 M  →  P(M) = 2/8, P(M | non-blond) = 2/5 > 2/8
    train = [(0, 1, 0, 0)] * 3 + [(0, 0, 0, 0)] * 3 + [(0, 0, 0, 1)] * 2
    # test (partition 2), unbalanced cells: blond F ×4, blond M ×1, non-blond F ×2, non-blond M ×3
    test = [(2, 1, 0, 0)] * 4 + [(2, 1, 0, 1)] + [(2, 0, 0, 0)] * 2 + [(2, 0, 0, 1)] * 3
    _write_celeba(tmp_path, train + test)
    task = make_celeba_task("HairColor", image_size=8, root=tmp_path)
    assert task.info["aligned_group"] == [1, 0]  # non-blond ↔ male, blond ↔ female
    assert aligned_mask(task).tolist() == [True] * 4 + [False] + [False] * 2 + [True] * 3
    assert make_celeba_task("HairColor", image_size=8, root=tmp_path, alignment="diagonal").info["aligned_group"] == [
        0,
        1,
    ]
    # A model that always says "not blond": right on every non-blond image, wrong on every blond one.
    preds = torch.zeros(10, dtype=torch.long)
    metrics = skew_metrics(task, "test", {"pred_none": preds})["protocols"]["none"]
    # cells: blond-F (aligned) 0/4, non-blond-M (aligned) 3/3 → aligned = (0 + 1) / 2 = 0.5;
    # blond-M (conflicting) 0/1, non-blond-F (conflicting) 2/2 → conflicting = (0 + 1) / 2 = 0.5.
    assert metrics["aligned"] == pytest.approx(0.5) and metrics["conflicting"] == pytest.approx(0.5)
    assert metrics["gap"] == pytest.approx(0.0) and metrics["accuracy"] == pytest.approx(0.5)
    assert metrics["pooled"] == pytest.approx(0.5)  # 5 of 10 images
    # A model that says "blond" exactly for women: aligned cells 4/4 and 3/3; conflicting 0/1 and 0/2.
    preds = torch.tensor([1] * 4 + [0] + [1] * 2 + [0] * 3)
    metrics = skew_metrics(task, "test", {"pred_none": preds})["protocols"]["none"]
    assert metrics["aligned"] == 1.0 and metrics["conflicting"] == 0.0 and metrics["gap"] == 1.0
    assert metrics["mean"] == 0.5 and metrics["pooled"] == pytest.approx(0.7)  # pooled: 7 of 10 images
    # Pooled over images, aligned would be 7/7 and conflicting 0/3 too; on a skewed cell mix they differ:
    preds = torch.tensor([1, 1, 1, 0] + [0] + [0, 0] + [0, 0, 0])  # blond-F 3/4, others as "always not blond"
    metrics = skew_metrics(task, "test", {"pred_none": preds})["protocols"]["none"]
    assert metrics["aligned"] == pytest.approx((3 / 4 + 1) / 2)  # cells, not 6/7 pooled
    assert metrics["conflicting"] == pytest.approx((0 + 1) / 2)  # cells, not 2/3 pooled
