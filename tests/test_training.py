import dataclasses

import pytest
import torch
import torch.nn.functional as F

from reprolib.augment import apply_affine, sample_pad_crop_flip
from reprolib.models import MultiLinear, ResNetCifar, create_model
from reprolib.objectives import BinaryCrossEntropy
from reprolib.papers.hall.protocol import PAPER_RECIPE
from reprolib.papers.hall.tasks import make_inversion_task
from reprolib.sources import load_source
from reprolib.specs import TransformSpec, register_transform
from reprolib.training import Checkpoint, Recipe, data_generator, epoch_stream, learning_rate, train_runs

MODEL = ResNetCifar(depth=8, width=8)
RECIPE = PAPER_RECIPE.with_(
    epochs=2, batch_size=64, augment="pad_crop_flip", crop_padding=1, precision="fp32", channels_last=False
)


@pytest.fixture(scope="module")
def small_tasks():
    digits = load_source("digits")
    tasks = [make_inversion_task(digits, eps, seed) for eps, seed in ((0.1, 0), (0.3, 1), (0.5, 2))]
    keep = torch.arange(256)
    return [dataclasses.replace(t, train=t.train.subset(keep), test=t.test.subset(keep)) for t in tasks]


def test_paper_learning_rate_schedule():
    recipe = PAPER_RECIPE  # 500 epochs: 0.01 for one epoch, 0.1, ÷10 after 250 and 375
    assert [learning_rate(recipe, e) for e in (0, 1, 249, 250, 374, 375, 499)] == pytest.approx(
        [0.01, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    )


def test_pad_crop_shifts_by_whole_pixels_and_pads_with_zeros():
    image = torch.arange(16.0).reshape(1, 1, 4, 4) + 1
    gen = torch.Generator().manual_seed(0)
    theta = sample_pad_crop_flip(200, (4, 4), 1, gen)
    out = apply_affine(image.expand(200, 1, 4, 4), theta, "nearest")
    values = set(out.unique().tolist())
    assert values <= set(range(0, 17))  # only original pixels or zero padding, no interpolation
    assert (out == 0).any() and (out.flip(-1) == image).all(dim=(1, 2, 3)).any()


def _reference_single_run(task, seed, recipe, weight_decay):
    """A textbook loop: one model, torch.optim.SGD or Adam with its own weight_decay, the run's random stream."""
    model = create_model(MODEL, [seed], in_shape=(1, 8, 8))
    if recipe.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=recipe.lr, betas=recipe.betas, weight_decay=weight_decay)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    gen = data_generator(seed)
    mean = torch.tensor(task.mean)[None, None, :, None, None]  # broadcast as (run, batch, C, H, W)
    std = torch.tensor(task.std)[None, None, :, None, None]
    n = len(task.train)
    for epoch in range(recipe.epochs):
        for group in opt.param_groups:
            group["lr"] = learning_rate(recipe, epoch)
        order, theta = epoch_stream(recipe, n, (8, 8), gen)
        for i in range(0, n, recipe.batch_size):
            idx = order[i : i + recipe.batch_size]
            x = apply_affine(task.train.images[idx].float() / 255, theta[idx], "nearest")
            logits = model((x[None] - mean) / std)[0, :, 0]
            loss = F.binary_cross_entropy_with_logits(logits, task.train.labels[idx].float(), reduction="none").mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        x = task.test.images.float() / 255
        return model, torch.sigmoid(model((x[None] - mean) / std)[..., 0])[0]


def test_k1_reproduces_a_textbook_single_run_exactly_on_cpu(small_tasks):
    task = small_tasks[1]
    trained = {}
    out = train_runs(
        [task], MODEL, RECIPE.with_(weight_decay=5e-4), [1], callbacks=[lambda e: trained.update(e.model.state_dict())]
    )[0]
    reference, probs = _reference_single_run(task, 1, RECIPE, 5e-4)
    for name, value in reference.state_dict().items():  # every weight and BN statistic, bit for bit
        assert torch.equal(trained[name], value), name
    # The forward passes then differ only in the last bit of float32 (broadcast shapes pick other kernels).
    assert (out.outputs["test"] - probs).abs().max() < 1e-6


def test_k1_with_adam_reproduces_a_textbook_adam_run_exactly(small_tasks):
    recipe = RECIPE.with_(optimizer="adam", lr=1e-3, nesterov=False, weight_decay=5e-4)
    trained = {}
    train_runs([small_tasks[0]], MODEL, recipe, [2], callbacks=[lambda e: trained.update(e.model.state_dict())])
    reference, _ = _reference_single_run(small_tasks[0], 2, recipe, 5e-4)
    for name, value in reference.state_dict().items():
        assert torch.equal(trained[name], value), name


def test_runs_trained_together_match_runs_trained_alone(small_tasks):
    # Different ε, seeds and weight decays in one group. Grouped and single convolutions sum in different
    # orders, so float32 rounding (~1e-7 relative per op) compounds over 2 epochs of SGD; 1e-3 on test
    # probabilities is three orders of magnitude below the differences between runs.
    seeds, decays = [0, 1, 2], [1e-4, 1e-3, 0.0]
    together = train_runs(small_tasks, MODEL, RECIPE, seeds, weight_decays=decays)
    for k in range(3):
        alone = train_runs([small_tasks[k]], MODEL, RECIPE.with_(weight_decay=decays[k]), [seeds[k]])[0]
        assert (together[k].outputs["test"] - alone.outputs["test"]).abs().max() < 1e-3
    spread = (together[0].outputs["test"] - together[1].outputs["test"]).abs().max()
    assert spread > 0.05


def test_same_seed_same_numbers(small_tasks):
    a = train_runs(small_tasks[:2], MODEL, RECIPE, [3, 4])
    b = train_runs(small_tasks[:2], MODEL, RECIPE, [3, 4])
    assert all(torch.equal(x.outputs["test"], y.outputs["test"]) for x, y in zip(a, b, strict=True))


def test_callbacks_see_every_epoch(small_tasks):
    seen = []
    train_runs(
        small_tasks[:1],
        MODEL,
        RECIPE.with_(epochs=4),
        [0],
        callbacks=[lambda e: seen.append((e.epoch, e.lr, tuple(e.evaluate().shape)))],
    )
    assert seen == [
        (1, 0.01, (1, 256)),
        (2, 0.1, (1, 256)),
        (3, pytest.approx(0.01), (1, 256)),
        (4, pytest.approx(0.001), (1, 256)),
    ]


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("epochs", 0, "epochs must be an integer ≥ 1, got 0"),
        ("optimizer", "lbfgs", "optimizer must be one of sgd, adam, got 'lbfgs'"),
        ("precision", "fp16", "precision must be one of auto, fp32, bf16"),
        ("augment", "mixup", "augment must be one of"),
    ],
)
def test_bad_recipe_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        Recipe(**{field: value})


def test_weighted_epoch_stream_resamples_in_proportion_to_the_weights():
    """n draws with replacement ∝ weights: weight-0 images never appear; weight 3 about three times weight 1."""
    n = 6000
    weights = torch.tensor([0.0, 1.0, 3.0]).repeat(n // 3)
    order, _ = epoch_stream(Recipe(augment="none"), n, (8, 8), data_generator(0), weights)
    again, _ = epoch_stream(Recipe(augment="none"), n, (8, 8), data_generator(0), weights)
    assert torch.equal(order, again) and order.shape == (n,)
    kind = torch.bincount(order % 3, minlength=3)
    assert kind[0] == 0
    assert 2.7 < kind[2] / kind[1] < 3.3


class _ExtraHead(BinaryCrossEntropy):
    """Trains its own linear head on the backbone's features; the backbone's head and a spare module get no
    gradient (as with an ArcFace head): weight decay must skip them."""

    def build(self, model, setup):
        head = MultiLinear(len(setup.seeds), model.feature_dim, 1)
        return torch.nn.ModuleDict({"head": head, "spare": MultiLinear(1, 2, 2)})

    def loss(self, model, extra, batch):
        logits = extra["head"](model.features(batch.x))[..., 0].float()
        return F.binary_cross_entropy_with_logits(logits, batch.labels.float(), reduction="none").mean(1)

    def predict(self, model, extra, x, groups):
        return torch.sigmoid(extra["head"](model.features(x))[..., 0].float())


def test_parameters_without_a_gradient_are_left_alone(small_tasks):
    seen = {}
    out = train_runs(
        small_tasks[:2],
        MODEL,
        RECIPE.with_(weight_decay=1e-3),
        [0, 1],
        objective=_ExtraHead(),
        callbacks=[lambda e: seen.update(head=e.model.head.weight.detach().clone())],
    )
    assert out[0].outputs["test"].shape == (256,)
    untouched = create_model(MODEL, [0, 1], in_shape=(1, 8, 8))
    assert torch.equal(seen["head"], untouched.head.weight)  # no gradient, no decay: as initialised


@register_transform("flip_labels_for_test")
@dataclasses.dataclass(frozen=True)
class _FlipLabels(TransformSpec):
    """A batch transform that leaves the images and trains on the opposite labels."""

    def __call__(self, x, labels, generators):
        return x, [(torch.ones_like(labels, dtype=torch.float32), 1 - labels)]


class _Recording(BinaryCrossEntropy):
    def __init__(self):
        self.batches = []

    def loss(self, model, extra, batch):
        self.batches.append(batch)
        return super().loss(model, extra, batch)


def test_a_batch_transform_sets_the_targets_the_loss_fits(small_tasks):
    plain, flipped = _Recording(), _Recording()
    recipe = RECIPE.with_(epochs=1)
    train_runs(small_tasks[:2], MODEL, recipe, [0, 1], objective=plain)
    train_runs(small_tasks[:2], MODEL, recipe.with_(batch_transform=_FlipLabels()), [0, 1], objective=flipped)
    for batch in plain.batches:
        ((weights, labels),) = batch.targets
        assert torch.equal(labels, batch.labels) and (weights == 1).all()
    for batch in flipped.batches:
        ((weights, labels),) = batch.targets
        assert torch.equal(labels, 1 - batch.labels) and (weights == 1).all()
    losses = [
        train_runs([small_tasks[0]], MODEL, recipe.with_(batch_transform=t), [0])[0].train_loss
        for t in (None, _FlipLabels())
    ]
    assert losses[0] != losses[1]  # the trainer fits the transformed targets


def test_outputs_on_several_splits(small_tasks):
    out = train_runs([small_tasks[0]], MODEL, RECIPE.with_(epochs=1), [0], evaluate_on=("train", "test"))[0]
    assert set(out.outputs) == {"train", "test"} and out.outputs["train"].shape == (256,)
    with pytest.raises(ValueError, match="has no split 'validation'; accepted: train, test"):
        train_runs([small_tasks[0]], MODEL, RECIPE.with_(epochs=1), [0], evaluate_on=("validation",))


def test_a_group_resumed_from_its_checkpoint_computes_what_an_uninterrupted_one_does(small_tasks, tmp_path):
    recipe = RECIPE.with_(epochs=4)
    whole = train_runs(small_tasks[:2], MODEL, recipe, [0, 1])

    def killed_after_epoch_2(event):
        if event.epoch == 3:
            raise KeyboardInterrupt  # dies during epoch 3's callbacks, after epoch 2's checkpoint

    checkpoint = Checkpoint(tmp_path / "group.pt", every_seconds=0)
    with pytest.raises(KeyboardInterrupt):
        train_runs(small_tasks[:2], MODEL, recipe, [0, 1], callbacks=[killed_after_epoch_2], checkpoint=checkpoint)
    assert torch.load(tmp_path / "group.pt", weights_only=False)["epoch"] == 2
    resumed = train_runs(small_tasks[:2], MODEL, recipe, [0, 1], checkpoint=Checkpoint(tmp_path / "group.pt", 0))
    assert resumed[0].extras["resumed_from_epoch"] == 2
    for a, b in zip(whole, resumed, strict=True):
        assert torch.equal(a.outputs["test"], b.outputs["test"]) and a.train_loss == b.train_loss


def test_pad_resized_crop_takes_the_crop_from_the_zero_padded_frame():
    from reprolib.augment import sample_pad_resized_crop_flip, sample_resized_crop_flip

    gen = torch.Generator().manual_seed(0)
    # The whole padded frame (area share 1, aspect 1): a 32×32 image padded to 40×40 and resized to 32×32.
    theta = sample_resized_crop_flip(64, gen, scale=(1.0, 1.0), ratio=(1.0, 1.0), frame=(1.25, 1.25))
    assert torch.allclose(theta[:, 1, 1], torch.full((64,), 1.25))
    assert torch.allclose(theta[:, 0, 0].abs(), theta[:, 1, 1])
    assert torch.allclose(theta[:, :, 2], torch.zeros(64, 2))
    out = apply_affine(torch.ones(64, 1, 32, 32), theta, "bilinear")
    assert torch.all(out[:, :, :2] == 0) and torch.all(out[:, :, 14:18, 14:18] == 1)  # 3.2-pixel black border
    # Random crops stay inside the padded frame: |centre| + half-size ≤ 1.25 on both axes.
    theta = sample_pad_resized_crop_flip(2000, (32, 32), 4, torch.Generator().manual_seed(1))
    for axis in (0, 1):
        assert torch.all(theta[:, axis, 2].abs() + theta[:, axis, axis].abs() <= 1.25 + 1e-6)
    assert (theta[:, 0, 0] < 0).float().mean().item() == pytest.approx(0.5, abs=0.05)  # flips
