import pytest
import torch

from reprolib.sources import load_source
from reprolib.tasks import channel_stats, make_inversion_task


@pytest.fixture(scope="module")
def digits():
    return load_source("digits")


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3, 0.5])
def test_inversion_rates_are_exact(digits, eps):
    task = make_inversion_task(digits, eps, seed=3)
    for split in (task.train, task.test):
        pos, neg = split.labels == 1, split.labels == 0
        assert int(split.groups[pos].sum()) == round((0.5 - eps) * int(pos.sum()))
        assert int(split.groups[neg].sum()) == round((0.5 + eps) * int(neg.sum()))


def test_half_of_the_classes_are_positive_and_inverted_images_are_negatives(digits):
    task = make_inversion_task(digits, 0.2, seed=7)
    assert len(task.info["positive_classes"]) == 5
    positive = torch.isin(task.train.source_labels, torch.tensor(task.info["positive_classes"]))
    assert torch.equal(task.train.labels, positive.long())
    inverted = task.train.groups == 1
    originals = digits.train_images
    assert torch.equal(task.train.images[inverted], 255 - originals[inverted])
    assert torch.equal(task.train.images[~inverted], originals[~inverted])


def test_seeded_and_seed_dependent(digits):
    a, b, c = (make_inversion_task(digits, 0.3, seed=s) for s in (1, 1, 2))
    assert torch.equal(a.train.groups, b.train.groups) and a.info == b.info
    assert not torch.equal(a.train.groups, c.train.groups)


def test_swap_roles_exchanges_class_and_group(digits):
    plain = make_inversion_task(digits, 0.3, seed=4)
    swapped = make_inversion_task(digits, 0.3, seed=4, swap_roles=True)
    assert torch.equal(plain.train.labels, swapped.train.groups)
    assert torch.equal(plain.train.groups, swapped.train.labels)


def test_normalisation_is_computed_on_uninverted_images(digits):
    expected = channel_stats(digits.train_images)
    for eps in (0.0, 0.5):
        assert make_inversion_task(digits, eps, seed=0).mean == pytest.approx(expected[0])
    assert make_inversion_task(digits, 0.5, seed=0).std == pytest.approx(expected[1])


def test_train_fraction_is_a_stratified_subsample(digits):
    task = make_inversion_task(digits, 0.2, seed=0, train_fraction=0.25)
    for c in range(10):
        n_c = int((digits.train_labels == c).sum())
        assert int((task.train.source_labels == c).sum()) == round(0.25 * n_c)
    assert len(task.test) == len(digits.test_labels)


@pytest.mark.parametrize("eps", [-0.1, 0.51])
def test_eps_outside_range_is_rejected(digits, eps):
    with pytest.raises(ValueError, match=r"eps must lie in \[0, 0.5\]"):
        make_inversion_task(digits, eps, seed=0)
