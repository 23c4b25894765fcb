import pandas as pd
import pytest
import torch
from PIL import Image

from reprolib.chapters import get_chapter
from reprolib.papers.kurmi.cifar_i import CIFAR10_CLASSES, DomainSkewTask, load_cinic_imagenet, make_domain_skew_task
from reprolib.papers.kurmi.skew_tasks import aligned_mask
from reprolib.sources import ImageSource, SourceUnavailable


def _write_cinic(root, per_class=2):
    """CINIC-10's layout: cinic-10/{train,test}/<class>/, ImageNet files n<synset>_<i>.png beside CIFAR-10's."""
    for split in ("train", "test"):
        for label, name in enumerate(CIFAR10_CLASSES):
            folder = root / "cinic-10" / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.new("RGB", (32, 32), (10 * label + i,) * 3).save(folder / f"n0{label}_{i}.png")
            Image.new("RGB", (32, 32), (255, 255, 255)).save(folder / f"cifar10-{split}-{label}.png")


def test_cinic_loader_reads_only_the_imagenet_images_in_cifar_order(tmp_path):
    _write_cinic(tmp_path)
    source = load_cinic_imagenet(tmp_path)
    assert source.train_images.shape == (20, 3, 32, 32) and source.train_images.dtype == torch.uint8
    assert source.train_labels.tolist() == [c for c in range(10) for _ in range(2)]
    assert source.train_images[:, 0, 0, 0].tolist() == [10 * c + i for c in range(10) for i in range(2)]
    assert 255 not in source.test_images  # the cifar10-* files are CIFAR-10's half of CINIC-10


def test_cinic_loader_names_the_missing_folder_and_the_download(tmp_path):
    with pytest.raises(SourceUnavailable, match=r"cinic-10 \(train/airplane/ is missing\).*datashare\.ed\.ac\.uk"):
        load_cinic_imagenet(tmp_path)


def _source(name, value, n_train, n_test):
    labels = lambda n: torch.arange(n) % 10  # noqa: E731
    images = lambda n: torch.full((n, 3, 32, 32), value, dtype=torch.uint8)  # noqa: E731
    return ImageSource(name, images(n_train), labels(n_train), images(n_test), labels(n_test), 10)


def test_domain_skew_task_has_exact_rates_and_each_image_from_its_domain():
    cifar, imagenet = _source("cifar10", 0, 400, 50), _source("imagenet", 255, 400, 80)
    task = make_domain_skew_task(cifar, imagenet, 0.95, seed=3)
    aligned_group = torch.tensor(task.info["aligned_group"])
    assert sorted(aligned_group.tolist()) == [0] * 5 + [1] * 5
    train = task.train
    for c in range(10):
        members = train.labels == c
        assert members.sum() == 40  # as many as CIFAR-10 has of the class
        assert (train.groups[members] == aligned_group[c]).sum() == 38  # round(0.95 · 40)
    # group 1 images come from the second domain, group 0 from the first
    assert torch.equal(train.images[:, 0, 0, 0] == 255, train.groups == 1)
    assert len(task.test.labels) == 100 and aligned_mask(task).sum() == 50
    assert torch.equal(task.test.images[:, 0, 0, 0] == 255, task.test.groups == 1)


def test_domain_skew_task_refuses_a_domain_too_small_for_the_skew():
    with pytest.raises(ValueError, match=r"class \d needs 38 training images from imagenet, which has 10"):
        make_domain_skew_task(_source("cifar10", 0, 400, 50), _source("imagenet", 255, 100, 80), 0.95, seed=0)


def test_k_t1_runs_cifar_i_with_table_2_beside_it():
    chapter = get_chapter("K-T1")
    config = chapter.configure("paper", "cpu", dataset="cifar_i")
    assert chapter.settings(config) == {"CIFAR-I": DomainSkewTask(dataset="cifar10", skew=0.95)}
    table = chapter.table(pd.DataFrame(), config).set_index("method")
    assert table.loc["Adversarial with GBA", "CIFAR-I mean (paper)"] == "84.41"
    assert table.loc["Vanilla", "CIFAR-I gap (paper)"] == "18.55"
