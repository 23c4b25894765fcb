import pytest
import torch

from reprolib.papers.hall.tasks import make_inversion_task, make_overlay_task, overlay
from reprolib.sources import load_source
from reprolib.tasks import channel_stats


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


@pytest.mark.parametrize("eps", [0.0, 0.2, 0.4, 0.5])
def test_overlay_group_rates_are_exact(digits, eps):
    task = make_overlay_task(digits, 0.5, eps, seed=3)
    for split, source_labels in ((task.train, digits.train_labels), (task.test, digits.test_labels)):
        per_class = int(torch.bincount(source_labels).min())
        pos, neg = split.labels == 1, split.labels == 0
        assert int(pos.sum()) == int(neg.sum()) == per_class
        assert int((split.groups[pos] == 1).sum()) == round((0.5 + eps) * per_class)  # positives → group a
        assert int((split.groups[neg] == 0).sum()) == round((0.5 + eps) * per_class)  # negatives → group b


def test_overlay_uses_four_distinct_classes_and_labels_follow_the_class_image(digits):
    task = make_overlay_task(digits, 0.3, 0.2, seed=5)
    classes, group_classes = task.info["classes"], task.info["group_classes"]
    assert len(set(classes + group_classes)) == 4
    for split in (task.train, task.test):
        assert set(split.source_labels.tolist()) == set(classes)
        assert torch.equal(split.labels, (split.source_labels == classes[1]).long())


def test_overlay_mixes_group_and_class_images_by_eta(digits):
    """η = 0 shows the class images, η = 1 the group images (the same pairs for every η), and in between a
    pixel is η·group + (1 − η)·class up to uint8 rounding (eq. 5)."""
    class_only, group_only, mixed = (make_overlay_task(digits, eta, 0.3, seed=2) for eta in (0.0, 1.0, 0.3))
    train_class = {c: digits.train_images[digits.train_labels == c] for c in range(10)}
    first = class_only.train
    assert any(torch.equal(first.images[0], img) for img in train_class[int(first.source_labels[0])])
    group_class = group_only.info["group_classes"][int(group_only.train.groups[0])]
    assert any(torch.equal(group_only.train.images[0], img) for img in train_class[group_class])
    expected = 0.3 * group_only.train.images.double() + 0.7 * class_only.train.images.double()
    assert (mixed.train.images.double() - expected).abs().max() <= 0.5
    assert torch.equal(mixed.train.groups, class_only.train.groups)


def test_overlay_rounds_to_the_nearest_integer():
    group, cls = torch.tensor([255, 0, 101], dtype=torch.uint8), torch.tensor([0, 255, 50], dtype=torch.uint8)
    assert overlay(group, cls, 0.2).tolist() == [51, 204, 60]  # 51.0, 204.0, 60.2


def test_overlay_sizes_do_not_depend_on_the_seed(digits):
    sizes = {(len(t.train), len(t.test)) for t in (make_overlay_task(digits, 0.5, 0.3, seed=s) for s in range(6))}
    assert sizes == {(2 * 122, 2 * 52)}


@pytest.mark.parametrize("eta, eps, message", [(1.2, 0.1, r"eta must lie in \[0, 1\]"), (0.5, 0.6, r"eps must")])
def test_overlay_rejects_out_of_range_parameters(digits, eta, eps, message):
    with pytest.raises(ValueError, match=message):
        make_overlay_task(digits, eta, eps, seed=0)


def test_validation_split_is_held_out_stratified_from_the_training_images(digits):
    task = make_inversion_task(digits, 0.3, seed=2, validation_fraction=0.2)
    assert len(task.train) + len(task.validation) == len(digits.train_labels)
    counts = torch.bincount(digits.train_labels)
    assert torch.equal(torch.bincount(task.validation.source_labels), (0.2 * counts.double()).round().long())
    plain = make_inversion_task(digits, 0.3, seed=2)
    assert plain.validation is None and torch.equal(plain.test.source_labels, task.test.source_labels)
    assert task.validation.images.shape[1:] == task.train.images.shape[1:]


def test_ambiguous_images_are_preinverted_so_their_group_cannot_be_seen(digits):
    plain = make_inversion_task(digits, 0.0, seed=1, swap_roles=True)
    ambiguous = make_inversion_task(digits, 0.0, seed=1, swap_roles=True, ambiguous=0.04)
    for a, b in ((plain.train, ambiguous.train), (plain.test, ambiguous.test)):
        assert torch.equal(a.labels, b.labels)  # same inversion, same class
        differs = (a.images != b.images).flatten(1).any(1)
        assert int(differs.sum()) == round(0.04 * len(a))  # exactly 4% pre-inverted
        assert torch.equal(b.images[differs], 255 - a.images[differs])


def test_overlay_noise_is_fixed_per_image_and_seeded(digits):
    clean = make_overlay_task(digits, 0.0, 0.3, seed=4)
    noisy = make_overlay_task(digits, 0.0, 0.3, seed=4, noise=48.0)
    again = make_overlay_task(digits, 0.0, 0.3, seed=4, noise=48.0)
    assert torch.equal(noisy.train.images, again.train.images)
    difference = noisy.train.images.double() - clean.train.images.double()
    interior = (clean.train.images > 60) & (clean.train.images < 195)  # away from clipping at 0 and 255
    assert difference[interior].std().item() == pytest.approx(48.0, rel=0.05)
    assert torch.equal(noisy.train.labels, clean.train.labels)
