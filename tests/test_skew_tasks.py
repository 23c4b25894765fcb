import numpy as np
import pytest
import torch

from reprolib.papers.kurmi.skew_tasks import (
    COLOURS,
    aligned_mask,
    cell_accuracies,
    make_colour_skew_task,
    make_grey_colour_task,
    validation_source,
)
from reprolib.sources import load_source


@pytest.fixture(scope="module")
def digits():
    return load_source("digits")


@pytest.mark.parametrize("skew", [0.95, 0.98])
def test_colour_skew_has_the_exact_rate_per_class(digits, skew):
    task = make_colour_skew_task(digits, skew, seed=3, perturbation=0.0)
    aligned = aligned_mask(task, "train")
    for c in range(10):
        members = task.train.labels == c
        n_c = int(members.sum())
        assert int(aligned[members].sum()) == round(skew * n_c)
    # conflicting images never carry their class's colour, and every colour appears among them
    conflicting = ~aligned
    assert (task.train.groups[conflicting] != task.train.labels[conflicting]).all()
    assert set(task.train.groups[conflicting].tolist()) == set(range(10))


def test_colour_skew_test_split_is_unbiased_and_painted_in_its_colour(digits):
    task = make_colour_skew_task(digits, 0.95, seed=0, perturbation=0.0)
    for c in range(10):
        counts = torch.bincount(task.test.groups[task.test.labels == c], minlength=10)
        assert counts.max() - counts.min() <= 1  # every digit in every colour equally often (±1)
    # without perturbation, the brightest pixel of an image has exactly its colour's hue
    image = task.test.images[0].float()
    brightest = image.flatten(1)[:, image.sum(0).flatten().argmax()] / 255
    colour = COLOURS[task.test.groups[0]]
    assert torch.allclose(brightest / brightest.max(), colour / colour.max(), atol=0.02)


def test_colour_skew_is_seeded(digits):
    a, b = (make_colour_skew_task(digits, 0.95, seed=1) for _ in range(2))
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.test.groups, b.test.groups)
    c = make_colour_skew_task(digits, 0.95, seed=2)
    assert not torch.equal(a.train.groups, c.train.groups)


def test_grey_colour_rates_and_doubled_test_split(digits):
    task = make_grey_colour_task(digits, 0.95, seed=0)
    assert sorted(task.info["aligned_group"]).count(1) == 5  # five classes mostly colour, five mostly grey
    aligned = aligned_mask(task, "train")
    for c in range(10):
        members = task.train.labels == c
        assert int(aligned[members].sum()) == round(0.95 * int(members.sum()))
    assert len(task.test) == 2 * len(digits.test_labels)
    assert aligned_mask(task).float().mean() == 0.5
    grey = task.train.images[task.train.groups == 0]
    assert (grey[:, 0] == grey[:, 1]).all() and (grey[:, 1] == grey[:, 2]).all()
    colour = task.train.images[task.train.groups == 1]
    assert (colour[:, 0] != colour[:, 1]).any()


def test_grey_colour_binary_target(digits):
    task = make_grey_colour_task(digits, 0.9, seed=0, binary=True)
    assert task.info["num_classes"] == 2 and set(task.train.labels.tolist()) == {0, 1}
    assert sorted(task.info["aligned_group"]) == [0, 1]


def test_validation_source_holds_out_a_stratified_fifth_of_train(digits):
    val = validation_source(digits, seed=0)
    assert len(val.train_labels) + len(val.test_labels) == len(digits.train_labels)
    for c in range(10):
        n_c = int((digits.train_labels == c).sum())
        assert int((val.test_labels == c).sum()) == round(0.2 * n_c)


@pytest.mark.parametrize("skew", [0.0, 1.0, 1.5])
def test_bad_skew_is_refused(digits, skew):
    with pytest.raises(ValueError, match="skew must lie in"):
        make_colour_skew_task(digits, skew, seed=0)


def test_cell_accuracies_weigh_every_cell_equally():
    """3 classes × 3 colours, aligned colour of class c = c; hand-made cells of unequal size."""
    labels = torch.tensor([0, 0, 0, 0, 0, 1, 1, 2])
    groups = torch.tensor([0, 0, 0, 1, 2, 1, 0, 0])
    preds = torch.tensor([0, 0, 1, 0, 1, 1, 0, 2])
    # cells: (0,0) 2/3 aligned; (0,1) 1/1; (0,2) 0/1; (1,1) 1/1 aligned; (1,0) 0/1; (2,0) 1/1
    m = cell_accuracies(labels, preds, groups, [0, 1, 2])
    assert m["aligned"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["conflicting"] == pytest.approx((1 + 0 + 0 + 1) / 4)
    assert m["mean"] == pytest.approx(((2 / 3 + 1) / 2 + 0.5) / 2)
    assert m["gap"] == pytest.approx((2 / 3 + 1) / 2 - 0.5)
    assert m["accuracy"] == pytest.approx((2 / 3 + 1 + 0 + 1 + 0 + 1) / 6)  # the empty cells are left out
    assert np.isnan(cell_accuracies(labels[:1], preds[:1], groups[:1], [0, 1, 2])["conflicting"])
