import pickle
import struct
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torchvision

from reprolib.sources import SourceUnavailable, load_source


def test_digits_are_embedded_uint8_with_a_stratified_split():
    source = load_source("digits")
    assert source.train_images.dtype == torch.uint8 and source.image_shape == (1, 8, 8)
    assert len(source.train_labels) + len(source.test_labels) == 1797
    assert len(source.test_labels) == 540
    assert int(source.train_images.max()) == 255
    for c in range(10):  # stratified: every class has ~30% of its images in the test split
        n_test, n_all = (
            int((source.test_labels == c).sum()),
            int((source.test_labels == c).sum() + (source.train_labels == c).sum()),
        )
        assert abs(n_test / n_all - 0.3) < 0.02


def _write_idx(path, array):
    array = np.asarray(array, dtype=np.uint8)
    magic = 0x0800 + array.ndim  # unsigned byte, ndim dimensions (the IDX format of MNIST)
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape) + array.tobytes())


def test_fashion_mnist_reads_the_real_idx_format(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 12), ("t10k", 5)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    source = load_source("fashion_mnist", root=tmp_path, download=False)
    assert source.train_images.shape == (12, 1, 28, 28) and source.test_images.shape == (5, 1, 28, 28)
    assert source.train_images.dtype == torch.uint8
    assert source.train_labels.tolist() == [i % 10 for i in range(12)]


def test_cifar10_reads_the_real_pickle_format(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    images = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
        images[name] = data
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": [1, 2, 3]}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)
    # torchvision checks each file's MD5 against the real archive's; small files in the same format cannot match.
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args: True)
    source = load_source("cifar10", root=tmp_path, download=False)
    assert source.train_images.shape == (15, 3, 32, 32) and source.test_images.shape == (3, 3, 32, 32)
    first = images["data_batch_1"][0].reshape(3, 32, 32)  # CIFAR stores planes R, G, B
    assert np.array_equal(source.train_images[0].numpy(), first)
    assert source.num_classes == 10


def test_absent_dataset_offline_names_the_folder_and_the_files(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", offline)
    with pytest.raises(SourceUnavailable) as info:
        load_source("cifar100", root=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path.resolve()) in message and "cifar-100-python/" in message


def test_unknown_dataset_is_rejected():
    with pytest.raises(ValueError, match="unknown dataset 'emnist'; accepted: .*digits.*fashion_mnist"):
        load_source("emnist")
