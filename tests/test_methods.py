import dataclasses

import pytest
import torch
import torch.nn.functional as F

from reprolib.models import MLP, MultiLinear
from reprolib.objectives import grad_reverse
from reprolib.papers.kurmi.methods import (
    GBA,
    FilterDrop,
    Repair,
    Vanilla,
    filter_drop_mask,
    gba_mask,
    repair_representation,
    repair_weights,
    reversal_coefficient,
)
from reprolib.papers.kurmi.skew_tasks import ColourSkewTask
from reprolib.specs import METHODS, MethodSpec, SpecError
from reprolib.sweep import RunSpec, build_task, group_key
from reprolib.training import Recipe, train_runs


def create_objective(specs, tasks):
    return type(specs[0]).objective(specs, tasks)


def _linear_discriminator():
    """Two runs, three features, two bias values: D(f) = f W; ∂ max logit / ∂f is the winning column of W."""
    d = MultiLinear(2, 3, 2)
    with torch.no_grad():
        d.weight.copy_(torch.tensor([[[1.0, -1.0], [-2.0, 2.0], [0.5, 0.0]], [[-1.0, 1.0], [1.0, 1.0], [0.0, -3.0]]]))
        d.bias.zero_()
    return d


def test_gba_mask_on_a_linear_discriminator():
    d = _linear_discriminator()
    # run 0: f = (1, 0, 0) → logits (1, −1), argmax 0, gradient (1, −2, 0.5); f = (0, 1, 0) → argmax 1, (−1, 2, 0)
    # run 1: f = (0, 1, 0) → logits (1, 1): argmax 0 (first), gradient (−1, 1, 0); f = (1, 0, 0) → argmax 1, (1, 1, −3)
    f = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]], [[0, 1.0, 0], [1.0, 0, 0]]])
    bias = torch.tensor([[0, 0], [0, 0]])  # right, wrong; right, wrong
    gba = gba_mask(f, d, bias, "gba")
    # right: drop g > 0; wrong: drop g < 0 (eq. 7 with ind = −1)
    assert gba.tolist() == [[[0, 1, 0], [0, 1, 1]], [[1, 0, 1], [1, 1, 0]]]
    assert gba_mask(f, d, bias, "gba_n").tolist() == [[[0, 1, 0], [1, 0, 1]], [[1, 0, 1], [0, 0, 1]]]
    assert gba_mask(f, d, bias, "gba_c").tolist() == [[[0, 1, 0], [1, 1, 1]], [[1, 0, 1], [1, 1, 1]]]
    # the discriminator's own prediction as the label: always right, so GBA's mask is GBA-n's
    assert torch.equal(gba_mask(f, d, None, "gba"), gba_mask(f, d, bias, "gba_n"))
    assert gba.shape == f.shape and gba.dtype == f.dtype
    assert d.weight.grad is None  # computing the mask leaves the discriminator's gradients alone


def test_gba_mask_refuses_unknown_variants():
    with pytest.raises(ValueError, match="variant must be one of gba, gba_n, gba_c"):
        gba_mask(torch.zeros(1, 1, 3), _linear_discriminator(), None, "gba_x")


def test_gradient_reversal_flips_and_scales_per_run():
    x = torch.ones(2, 3, 4, requires_grad=True)
    y = grad_reverse(x, torch.tensor([0.5, 2.0]))
    assert torch.equal(y, x)
    (y * torch.arange(4.0)).sum().backward()
    assert torch.equal(x.grad[0], -0.5 * torch.arange(4.0).expand(3, 4))
    assert torch.equal(x.grad[1], -2.0 * torch.arange(4.0).expand(3, 4))


def test_reversal_schedules():
    lam = torch.tensor([1.0])
    assert reversal_coefficient(lam, "constant", 0.3).item() == 1.0
    assert reversal_coefficient(lam, "ganin", 0.0).item() == 0.0
    assert reversal_coefficient(lam, "ganin", 1.0).item() == pytest.approx(0.99991, abs=1e-5)


def test_method_specs_are_checked():
    assert Vanilla().coefficient == 0.0 and GBA(lam=3.0).coefficient == 3.0
    with pytest.raises(ValueError, match="unknown method 'repair_v2'; accepted: .*repair"):
        MethodSpec.from_dict({"name": "repair_v2"})
    assert MethodSpec.from_dict({"name": "repair"}) == Repair(representation="bias_label")
    with pytest.raises(SpecError, match="representation must be one of bias_label, colour"):
        Repair(representation="texture")
    with pytest.raises(SpecError, match=r"drop_fraction must lie in \(0, 1\)"):
        FilterDrop(drop_fraction=1.0)
    with pytest.raises(SpecError, match=r"lam must be a number in \[0, 100\]"):
        GBA(lam=-1)


@pytest.fixture(scope="module")
def colour_task():
    task = build_task(ColourSkewTask(dataset="digits", skew=0.95, seed=0))
    keep = torch.arange(128)
    return dataclasses.replace(task, train=task.train.subset(keep), test=task.test.subset(keep))


RECIPE = Recipe(epochs=1, batch_size=32, lr=0.05, warmup_epochs=0, lr_drops=(), augment="none", nesterov=False)
SMALL_MLP = MLP(hidden=16)


@pytest.mark.parametrize(
    "name, keys",
    [
        ("vanilla", {"pred_none", "bias_pred"}),
        ("gba", {"pred_true", "pred_none", "pred_predicted", "bias_pred"}),
        ("domain_independent", {"pred_none"}),
        ("group_dro", {"pred_none"}),
        ("lff", {"pred_none"}),
        ("repair", {"pred_none"}),
        ("filter_drop", {"pred_none", "bias_pred"}),
    ],
)
def test_every_method_trains_k_runs_and_predicts_classes(colour_task, name, keys):
    cls = METHODS.get(name)
    specs = [cls(lam=lam) for lam in (0.1, 1.0)] if "lam" in cls.__dataclass_fields__ else [cls(), cls()]
    out = train_runs([colour_task] * 2, SMALL_MLP, RECIPE, [0, 1], objective=create_objective(specs, [colour_task] * 2))
    assert set(out[0].outputs["test"]) == keys
    for k in range(2):
        preds = out[k].outputs["test"]["pred_none"]
        assert preds.shape == (128,) and preds.dtype == torch.int64 and 0 <= preds.min() and preds.max() < 10


def test_vanilla_classifier_is_untouched_by_its_monitoring_discriminator(colour_task):
    """Vanilla = cross-entropy; its discriminator sees detached features, so the classifier equals one trained
    with λ = 0 adversarially (gradient reversal by 0) — the features receive nothing from the discriminator."""
    vanilla = create_objective([Vanilla()], [colour_task])
    zero = create_objective([METHODS.get("adversarial")(lam=0.0)], [colour_task])
    a = train_runs([colour_task], SMALL_MLP, RECIPE, [4], objective=vanilla)[0].outputs["test"]["pred_none"]
    b = train_runs([colour_task], SMALL_MLP, RECIPE, [4], objective=zero)[0].outputs["test"]["pred_none"]
    assert torch.equal(a, b)


def test_runs_differing_only_in_lambda_share_a_group():
    def spec(lam):
        return RunSpec(
            ColourSkewTask(dataset="digits", skew=0.95, seed=0),
            SMALL_MLP,
            RECIPE,
            0,
            method=GBA(lam=lam),
        )

    assert group_key(spec(0.1)) == group_key(spec(1.0)) and spec(0.1).key != spec(1.0).key
    other = RunSpec(ColourSkewTask(dataset="digits", skew=0.95, seed=0), SMALL_MLP, RECIPE, 0, method=Vanilla())
    assert group_key(other) != group_key(spec(0.1))


def _mutual_information(labels, bias, weights, n=10):
    joint = torch.zeros(n, n).index_put_((labels, bias), weights, accumulate=True)
    joint = joint / joint.sum()
    independent = joint.sum(1, keepdim=True) * joint.sum(0, keepdim=True)
    return (joint * (joint.clamp(min=1e-12).log() - independent.clamp(min=1e-12).log())).sum().item()


def test_repair_weights_make_class_and_bias_nearly_independent():
    """95% of images carry their class's bias value: I(Y; B) ≈ 2 nats unweighted. REPAIR with φ = one-hot bias
    maximises the risk of predicting Y from B, so the weighted set must lose most of that dependence and the
    conflicting images must outweigh the aligned ones."""
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (2000,), generator=g)
    conflicting = torch.rand(2000, generator=g) < 0.05
    bias = torch.where(conflicting, torch.randint(0, 10, (2000,), generator=g), labels)
    weights = repair_weights(F.one_hot(bias, 10).float()[None], labels[None], 10, steps=300)[0]
    assert weights.shape == (2000,) and 0 <= weights.min() and weights.max() <= 1
    before, after = _mutual_information(labels, bias, torch.ones(2000)), _mutual_information(labels, bias, weights)
    assert before > 1.5 and after < before / 5
    assert weights[bias != labels].mean() > 10 * weights[bias == labels].mean()


def test_repair_colour_representation_is_the_chromaticity_of_the_mean_pixel(colour_task):
    phi = repair_representation(colour_task.train, "colour", 10)
    mean = colour_task.train.images[0].float().mean((1, 2))
    assert phi.shape == (128, 3)
    assert torch.allclose(phi[0], mean / mean.sum()) and torch.allclose(phi.sum(1), torch.ones(128))
    grey = dataclasses.replace(colour_task.train, images=colour_task.train.images[:, :1])
    with pytest.raises(ValueError, match="representation colour needs 3-channel images"):
        repair_representation(grey, "colour", 10)


def test_filter_drop_mask_drops_the_units_the_attribute_head_relies_on():
    head = MultiLinear(2, 4, 2)
    with torch.no_grad():  # weight norms per unit: run 0 (1, 5, 2, 0), run 1 (3, 0, 4, 1)
        head.weight.copy_(torch.tensor([[[1.0, 0], [3, 4], [0, 2], [0, 0]], [[3.0, 0], [0, 0], [0, 4], [1, 0]]]))
    assert filter_drop_mask(head, 0.5).tolist() == [[1, 0, 0, 1], [0, 1, 0, 1]]
    assert filter_drop_mask(head, 0.25).tolist() == [[1, 0, 1, 1], [1, 1, 0, 1]]


def test_an_objectives_sampling_weights_choose_the_training_images(colour_task):
    objective = create_objective([Vanilla()], [colour_task])
    build, loss, seen = objective.build, objective.loss, []

    def build_only_image_5(model, setup):
        objective.sampling_weights = torch.zeros(1, 128).index_fill_(1, torch.tensor([5]), 1.0)
        return build(model, setup)

    def recording_loss(model, extra, batch):
        seen.append(batch.index)
        return loss(model, extra, batch)

    objective.build, objective.loss = build_only_image_5, recording_loss
    train_runs([colour_task], SMALL_MLP, RECIPE, [0], objective=objective)
    assert torch.cat(seen, 1).unique().tolist() == [5]


def test_repair_resamples_towards_the_bias_conflicting_images(colour_task):
    objective = create_objective([Repair(steps=200)] * 2, [colour_task] * 2)
    train_runs([colour_task] * 2, SMALL_MLP, RECIPE, [0, 1], objective=objective)
    weights, train = objective.sampling_weights, colour_task.train
    aligned = train.groups == train.labels
    assert weights.shape == (2, 128)
    assert (weights[:, ~aligned].mean(1) > 5 * weights[:, aligned].mean(1)).all()
