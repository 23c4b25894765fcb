"""Debiasing methods as training objectives for ``training.train_runs`` (Kurmi et al. 2022 and its baselines).

A method is a registered typed spec (``GBA(lam=1.0)``, stored with every run) whose ``objective(specs, tasks)``
makes one objective for the K runs of a group, which may differ in the gradient-reversal coefficient λ. Every
objective trains multi-class cross-entropy on the class and returns,
at test time, a dict of (K, B) int64 tensors: ``pred_<protocol>`` (the class predicted under a test protocol)
and, for the adversarial family, ``bias_pred`` (the discriminator's prediction of the bias attribute).

- ``vanilla``: cross-entropy; a discriminator is trained on the *detached* features to monitor them (Fig. 1a).
- ``adversarial``: a discriminator on the features through a gradient-reversal layer (Ganin & Lempitsky 2015;
  eqs. 1–3).
- ``gba``, ``gba_n``, ``gba_c``: adversarial training whose classifier sees the features masked by the
  discriminator's gradient (eqs. 4–8, ``gba_mask``) and the ablations of Table 5.
- ``domain_independent`` (Wang et al. 2020), ``group_dro`` (Sagawa et al. 2020), ``lff`` (Nam et al. 2020),
  ``repair`` (Li & Vasconcelos 2019; ``repair_weights``) and ``filter_drop`` (Nagpal et al. 2020;
  ``filter_drop_mask``).

Test protocols. The GBA mask needs the bias label (eq. 4), so at test time it can be built from the true bias
label (``true``), left out (``none``), or built from the discriminator's own prediction (``predicted``; then the
discriminator is "right" by construction and the mask is GBA-n's). Methods without a mask report ``none`` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ...models import MultiMLP, create_model, init_per_run
from ...objectives import Batch, Objective, State, grad_reverse
from ...objectives import cross_entropy as _cross_entropy
from ...specs import MethodSpec, check, check_choice, check_range, register_method

__all__ = [
    "gba_mask",
    "repair_weights",
    "filter_drop_mask",
    "MASK_VARIANTS",
    "KURMI_METHODS",
    "ADVERSARIAL_FAMILY",
    "PROTOCOLS",
    "SCHEDULES",
    "reversal_coefficient",
    "Vanilla",
    "Adversarial",
    "GBA",
    "GBAN",
    "GBAC",
    "DomainIndependent",
    "GroupDRO",
    "LfF",
    "Repair",
    "FilterDrop",
]

MASK_VARIANTS = ("gba", "gba_n", "gba_c")
PROTOCOLS = ("true", "none", "predicted")
SCHEDULES = ("constant", "ganin")
ADVERSARIAL_FAMILY = ("vanilla", "adversarial", *MASK_VARIANTS)
KURMI_METHODS = (*ADVERSARIAL_FAMILY, "domain_independent", "group_dro", "lff", "repair", "filter_drop")
REPAIR_REPRESENTATIONS = ("bias_label", "colour")
EXTRA_SEED_OFFSET = 2_000_003  # the seeds of a method's extra modules: the run's seed plus this


def reversal_coefficient(lam: torch.Tensor, schedule: str, progress: float) -> torch.Tensor:
    """λ at a point of training: ``constant`` keeps λ; ``ganin`` ramps it as λ · (2 / (1 + e^(−10p)) − 1) over
    the share p of training done (Ganin & Lempitsky 2015, §5)."""
    if schedule == "constant":
        return lam
    return lam * (2 / (1 + math.exp(-10 * progress)) - 1)


def gba_mask(
    features: torch.Tensor, discriminator, bias_labels: torch.Tensor | None, variant: str = "gba"
) -> torch.Tensor:
    """The gradient-based activation mask a (eqs. 4–8), a 0/1 tensor shaped like ``features``.

    g = ∂ max(D(f)) / ∂f (eqs. 5–6), per image. ``gba``: ind = +1 where argmax D(f) equals the bias label and −1
    otherwise (eq. 4), a = 0 where g · ind > 0, else 1 (eq. 7) — features that push the discriminator's
    choice are dropped when it is right and kept (the others dropped) when it is wrong. ``gba_n`` drops the
    features with g > 0 whether or not the discriminator is right; ``gba_c`` drops them only when it is right and
    keeps every feature when it is wrong. ``bias_labels=None`` uses the discriminator's own prediction as the
    label (then it is always right and every variant reduces to ``gba_n``).
    """
    if variant not in MASK_VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(MASK_VARIANTS)}, got {variant!r}")
    with torch.enable_grad():
        f = features.detach().requires_grad_(True)
        top, predicted = discriminator(f).max(dim=-1)
        (gradient,) = torch.autograd.grad(top.sum(), f)
    positive = gradient > 0
    if variant == "gba_n" or bias_labels is None:
        return (~positive).to(features.dtype)
    right = (predicted == bias_labels)[..., None]
    if variant == "gba_c":
        return torch.where(right, ~positive, torch.ones_like(positive)).to(features.dtype)
    return torch.where(right, ~positive, positive | (gradient == 0)).to(features.dtype)


def _discriminator(model, seeds, hidden: int, num_groups: int, device) -> nn.Module:
    sizes = (model.feature_dim, hidden, num_groups) if hidden else (model.feature_dim, num_groups)
    module = MultiMLP(len(seeds), sizes)
    init_per_run(module, [s + EXTRA_SEED_OFFSET for s in seeds])
    return module.to(device)


class AdversarialObjective(Objective):
    """Classifier cross-entropy plus a discriminator's cross-entropy on the bias attribute, its gradient reversed
    into the features with coefficient λ (eq. 3); with a mask variant, the classifier sees f · a (eq. 8).

    ``discriminator_input`` is ``unmasked`` (the discriminator sees f, as the mask is computed from its gradient
    with respect to f) or ``masked`` (it sees f · a, what the classifier sees). ``vanilla`` is λ = 0 with the
    discriminator on detached features: it monitors the features and leaves the classifier untouched.
    """

    def __init__(self, lambdas, mask, schedule, discriminator_input, hidden, num_classes, num_groups):
        self.lambdas, self.mask, self.schedule = torch.as_tensor(lambdas, dtype=torch.float32), mask, schedule
        self.discriminator_input, self.hidden = discriminator_input, hidden
        self.num_outputs, self.num_groups = num_classes, num_groups

    def build(self, model, setup):
        self.lambdas = self.lambdas.to(setup.device)
        return _discriminator(model, setup.seeds, self.hidden, self.num_groups, setup.device)

    def _masked(self, f, discriminator, bias_labels, protocol):
        if self.mask is None or protocol == "none":
            return f
        return f * gba_mask(f, discriminator, None if protocol == "predicted" else bias_labels, self.mask)

    def loss(self, model, discriminator, batch: Batch) -> torch.Tensor:
        f = model.features(batch.x)
        f_cls = self._masked(f, discriminator, batch.groups, "true")
        classifier = _cross_entropy(model.head(f_cls), batch.labels).mean(1)
        seen = f_cls if self.discriminator_input == "masked" else f
        coefficient = reversal_coefficient(self.lambdas, self.schedule, batch.progress)
        reversed_features = grad_reverse(seen, coefficient) if self.mask or coefficient.any() else seen.detach()
        return classifier + _cross_entropy(discriminator(reversed_features), batch.groups).mean(1)

    def predict(self, model, discriminator, x, groups) -> dict:
        f = model.features(x)
        protocols = PROTOCOLS if self.mask else ("none",)
        out = {f"pred_{p}": model.head(self._masked(f, discriminator, groups, p)).argmax(-1) for p in protocols}
        seen = self._masked(f, discriminator, groups, "true") if self.discriminator_input == "masked" else f
        out["bias_pred"] = discriminator(seen).argmax(-1)
        return out


class DomainIndependentObjective(Objective):
    """Domain-independent training (Wang et al. 2020): one C-way classifier per bias value on shared features;
    training uses the classifier of the image's bias value, prediction sums the C-way softmax over bias values."""

    def __init__(self, num_classes, num_groups):
        self.num_classes, self.num_groups = num_classes, num_groups
        self.num_outputs = num_classes * num_groups

    def build(self, model, setup):
        return None

    def _per_domain(self, logits):
        return logits.float().view(*logits.shape[:2], self.num_groups, self.num_classes)

    def loss(self, model, extra, batch):
        logits = self._per_domain(model(batch.x))
        own = logits.gather(2, batch.groups[..., None, None].expand(-1, -1, 1, self.num_classes))[:, :, 0]
        return _cross_entropy(own, batch.labels).mean(1)

    def predict(self, model, extra, x, groups):
        return {"pred_none": self._per_domain(model(x)).softmax(-1).sum(2).argmax(-1)}


class GroupDROObjective(Objective):
    """Group DRO (Sagawa et al. 2020, Algorithm 1): groups are (class, bias value) pairs; the group weights q
    follow an exponentiated-gradient ascent q_g ← q_g · exp(η · loss_g), normalised, and the loss is Σ q_g loss_g."""

    def __init__(self, num_classes, num_groups, step_size):
        self.num_outputs, self.num_groups, self.step_size = num_classes, num_groups, step_size

    def build(self, model, setup):
        cells = self.num_outputs * self.num_groups
        k = len(setup.seeds)
        return State({"q": torch.full((k, cells), 1 / cells, device=setup.device)})

    def loss(self, model, state, batch):
        losses = _cross_entropy(model(batch.x), batch.labels)
        cell = batch.labels * self.num_groups + batch.groups
        total = torch.zeros_like(state.q).scatter_add(1, cell, losses)
        count = torch.zeros_like(state.q).scatter_add(1, cell, torch.ones_like(losses))
        group_loss = total / count.clamp(min=1)
        with torch.no_grad():
            q = state.q * torch.exp(self.step_size * group_loss.detach() * (count > 0))
            state.q.copy_(q / q.sum(1, keepdim=True))
        return (state.q * group_loss).sum(1)

    def predict(self, model, extra, x, groups):
        return {"pred_none": model(x).argmax(-1)}


class LfFObjective(Objective):
    """Learning from Failure (Nam et al. 2020): a biased model trained with generalised cross-entropy (its
    ``gce_q``; Nam et al. use q = 0.7) and the debiased model trained with per-image weights W = L_B / (L_B + L_D),
    where L_B and L_D are the exponential moving averages (α = 0.7) of each image's cross-entropy under the two
    models, each divided by its class's maximum. The biased model is a second K-run model of the same
    architecture."""

    ema_alpha = 0.7

    def __init__(self, num_classes, gce_q: float = 0.7):
        self.num_outputs, self.gce_q = num_classes, gce_q

    def build(self, model, setup):
        seeds = [s + EXTRA_SEED_OFFSET for s in setup.seeds]
        biased = create_model(setup.model_spec, seeds, setup.in_shape, self.num_outputs)
        labels = torch.stack([t.train.labels for t in setup.tasks]).to(setup.device)
        zeros = torch.zeros(labels.shape, device=setup.device)
        return State({"labels": labels, "ema_b": zeros, "ema_d": zeros.clone()}, biased.to(setup.device))

    def _normalised_ema(self, state, name, losses, batch):
        ema = getattr(state, name)
        runs = torch.arange(len(ema), device=ema.device)[:, None]
        ema[runs, batch.index] = self.ema_alpha * ema[runs, batch.index] + (1 - self.ema_alpha) * losses
        class_max = torch.zeros(len(ema), self.num_outputs, device=ema.device)
        class_max = class_max.scatter_reduce(1, state.labels, ema, "amax", include_self=False)
        return ema[runs, batch.index] / class_max.gather(1, batch.labels).clamp(min=1e-8)

    def loss(self, model, state, batch):
        logits_d, logits_b = model(batch.x), state.net(batch.x)
        ce_d, ce_b = _cross_entropy(logits_d, batch.labels), _cross_entropy(logits_b, batch.labels)
        with torch.no_grad():
            l_b = self._normalised_ema(state, "ema_b", ce_b, batch)
            l_d = self._normalised_ema(state, "ema_d", ce_d, batch)
            weight = l_b / (l_b + l_d + 1e-8)
            p_true = logits_b.float().softmax(-1).gather(-1, batch.labels[..., None])[..., 0]
        gce = ce_b * p_true.pow(self.gce_q) * self.gce_q  # the gradient of (1 − p^q) / q
        return (ce_d * weight + gce).mean(1)

    def predict(self, model, extra, x, groups):
        return {"pred_none": model(x).argmax(-1)}


def repair_weights(features: torch.Tensor, labels: torch.Tensor, num_classes: int, steps: int = 500) -> torch.Tensor:
    """REPAIR's example weights w ∈ [0, 1] (Li & Vasconcelos 2019, §4), (K, N) from (K, N, D) features φ(x).

    The representation bias of a weighted set is B = 1 − R_w / H_w(Y) (their eq. 3): R_w is the weighted
    cross-entropy of a linear softmax classifier on φ, H_w(Y) the entropy of the weighted class distribution.
    REPAIR solves max_w min_classifier R_w / H_w(Y) by alternating gradient steps, w_i = σ(θ_i). We take
    full-batch Adam steps (lr 0.1) from θ = 0 and a zero classifier: the paper uses mini-batch SGD, but the
    sets here are at most 60,000 images of a few features, so a full batch is cheap and leaves nothing random.
    """
    k, n, d = features.shape
    features = features.float()
    theta = torch.zeros(k, n, requires_grad=True)
    weight = torch.zeros(k, d, num_classes, requires_grad=True)
    bias = torch.zeros(k, 1, num_classes, requires_grad=True)
    classifier_opt = torch.optim.Adam([weight, bias], lr=0.1)
    weights_opt = torch.optim.Adam([theta], lr=0.1)
    with torch.enable_grad():
        for _ in range(steps):
            losses = _cross_entropy(torch.baddbmm(bias, features, weight), labels)
            w = torch.sigmoid(theta)
            classifier_opt.zero_grad()
            ((w.detach() * losses).sum(1) / w.detach().sum(1)).sum().backward()
            classifier_opt.step()
            total = w.sum(1, keepdim=True)
            risk = (w * losses.detach()).sum(1) / total[:, 0]
            p = torch.zeros(k, num_classes).scatter_add(1, labels, w) / total
            entropy = -(p * p.clamp(min=1e-12).log()).sum(1)
            weights_opt.zero_grad()
            (-(risk / entropy)).sum().backward()
            weights_opt.step()
    return torch.sigmoid(theta).detach()


def repair_representation(split, representation: str, num_groups: int) -> torch.Tensor:
    """φ(x) of REPAIR, (N, D): ``bias_label`` is the one-hot bias attribute (known to every bias-aware baseline
    of the tables); ``colour`` is the chromaticity of each image's mean pixel (r, g, b) / (r + g + b), the
    colour representation Li & Vasconcelos use on Colored MNIST, for 3-channel images."""
    if representation == "bias_label":
        return F.one_hot(split.groups, num_groups).float()
    if split.images.shape[1] != 3:
        raise ValueError(f"representation colour needs 3-channel images, got {split.images.shape[1]} channel(s)")
    mean = split.images.float().mean((2, 3))
    return mean / mean.sum(1, keepdim=True).clamp(min=1e-6)


class RepairObjective(Objective):
    """REPAIR (Li & Vasconcelos 2019): weights from ``repair_weights`` before training, then plain cross-entropy
    on the resampled set: every epoch is N draws with replacement, image i with probability ∝ w_i (the paper's
    resampling by the weights; N draws keep the number of steps equal to the other methods'). Weighting each
    image's loss instead leaves a batch of 64 with about three images that count at 95% skew, and the MLP did not
    train."""

    def __init__(self, num_classes, num_groups, representation, steps):
        self.num_outputs, self.num_groups = num_classes, num_groups
        self.representation, self.steps = representation, steps

    def build(self, model, setup):
        tasks = setup.tasks
        features = torch.stack([repair_representation(t.train, self.representation, self.num_groups) for t in tasks])
        labels = torch.stack([t.train.labels for t in tasks])
        self.sampling_weights = repair_weights(features, labels, self.num_outputs, self.steps)
        return None

    def loss(self, model, extra, batch):
        return _cross_entropy(model(batch.x), batch.labels).mean(1)

    def predict(self, model, extra, x, groups):
        return {"pred_none": model(x).argmax(-1)}


def filter_drop_mask(attribute_head: nn.Module, fraction: float) -> torch.Tensor:
    """Filter-Drop's mask (Nagpal et al. 2020), (K, F): 0 for the ``fraction`` of feature units with the largest
    weight norm in the bias-attribute head — the units it relies on — and 1 for the units the classifier keeps."""
    linear = attribute_head[0] if isinstance(attribute_head, nn.Sequential) else attribute_head
    importance = linear.weight.detach().norm(dim=-1)
    dropped = importance.topk(round(fraction * importance.shape[1]), dim=1).indices
    return torch.ones_like(importance).scatter(1, dropped, 0.0)


class FilterDropObjective(Objective):
    """Filter-Drop (Nagpal et al. 2020): a multi-task network whose features feed a linear bias-attribute head
    (trained with cross-entropy, its gradient into the features) and the classifier; the classifier sees the
    features with the attribute head's top units dropped (``filter_drop_mask``, recomputed every step). The
    workshop paper gives no unit count or ranking rule: the weight-norm ranking and ``drop_fraction`` are ours."""

    def __init__(self, num_classes, num_groups, fraction):
        self.num_outputs, self.num_groups, self.fraction = num_classes, num_groups, fraction

    def build(self, model, setup):
        return _discriminator(model, setup.seeds, 0, self.num_groups, setup.device)

    def loss(self, model, head, batch):
        f = model.features(batch.x)
        kept = f * filter_drop_mask(head, self.fraction)[:, None, :]
        classifier = _cross_entropy(model.head(kept), batch.labels).mean(1)
        return classifier + _cross_entropy(head(f), batch.groups).mean(1)

    def predict(self, model, head, x, groups):
        f = model.features(x)
        kept = f * filter_drop_mask(head, self.fraction)[:, None, :]
        return {"pred_none": model.head(kept).argmax(-1), "bias_pred": head(f).argmax(-1)}


@dataclass(frozen=True)
class _DiscriminatorMethod(MethodSpec):
    """The adversarial family: a discriminator on the features predicts the bias attribute (eqs. 1–3)."""

    mask: ClassVar[str | None] = None
    schedule: str = "constant"  # of λ: constant, or Ganin & Lempitsky's ramp
    discriminator_input: str = "unmasked"  # unmasked (f) or masked (f · a)
    discriminator_hidden: int = 100  # hidden units of the discriminator (0: linear)

    def validate(self):
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("discriminator_input", self.discriminator_input, ("unmasked", "masked"))
        check_range("discriminator_hidden", self.discriminator_hidden, 0, 4096, integer=True)

    @property
    def coefficient(self) -> float:
        return 0.0

    @classmethod
    def objective(cls, specs, tasks):
        spec, info = specs[0], tasks[0].info
        return AdversarialObjective(
            [s.coefficient for s in specs],
            cls.mask,
            spec.schedule,
            spec.discriminator_input,
            spec.discriminator_hidden,
            info["num_classes"],
            info["num_groups"],
        )


@register_method("vanilla")
@dataclass(frozen=True)
class Vanilla(_DiscriminatorMethod):
    """Cross-entropy; the discriminator sees *detached* features and only monitors them (Fig. 1a)."""


@register_method("adversarial")
@dataclass(frozen=True)
class Adversarial(_DiscriminatorMethod):
    """Gradient reversal into the features with coefficient ``lam`` (λ, eq. 3); λ may differ between the runs of
    a group."""

    per_run: ClassVar[frozenset[str]] = frozenset({"lam"})
    lam: float = 1.0

    def validate(self):
        super().validate()
        check_range("lam", self.lam, 0, 100)

    @property
    def coefficient(self) -> float:
        return self.lam


@register_method("gba")
@dataclass(frozen=True)
class GBA(Adversarial):
    """Adversarial training whose classifier sees the features masked by the discriminator's gradient (eqs. 4–8)."""

    mask: ClassVar[str | None] = "gba"


@register_method("gba_n")
@dataclass(frozen=True)
class GBAN(Adversarial):
    """GBA's ablation: drop the features with positive gradient whether the discriminator is right or not."""

    mask: ClassVar[str | None] = "gba_n"


@register_method("gba_c")
@dataclass(frozen=True)
class GBAC(Adversarial):
    """GBA's ablation: drop them only when the discriminator is right; keep every feature otherwise."""

    mask: ClassVar[str | None] = "gba_c"


@register_method("domain_independent")
@dataclass(frozen=True)
class DomainIndependent(MethodSpec):
    """Domain-independent training (Wang et al. 2020)."""

    @classmethod
    def objective(cls, specs, tasks):
        return DomainIndependentObjective(tasks[0].info["num_classes"], tasks[0].info["num_groups"])


@register_method("group_dro")
@dataclass(frozen=True)
class GroupDRO(MethodSpec):
    """Group DRO (Sagawa et al. 2020) with the group weights' step size η."""

    step_size: float = 0.01

    def validate(self):
        check_range("step_size", self.step_size, 0, 10, open_low=True)

    @classmethod
    def objective(cls, specs, tasks):
        return GroupDROObjective(tasks[0].info["num_classes"], tasks[0].info["num_groups"], specs[0].step_size)


@register_method("lff")
@dataclass(frozen=True)
class LfF(MethodSpec):
    """Learning from Failure (Nam et al. 2020) with the generalised cross-entropy's ``q`` (theirs: 0.7)."""

    q: float = 0.7

    def validate(self):
        check_range("q", self.q, 0, 1, open_low=True)

    @classmethod
    def objective(cls, specs, tasks):
        return LfFObjective(tasks[0].info["num_classes"], specs[0].q)


@register_method("repair")
@dataclass(frozen=True)
class Repair(MethodSpec):
    """REPAIR (Li & Vasconcelos 2019): resampling by weights learned on the representation φ."""

    representation: str = "bias_label"
    steps: int = 500

    def validate(self):
        check_choice("representation", self.representation, REPAIR_REPRESENTATIONS)
        check_range("steps", self.steps, 1, 100_000, integer=True)

    @classmethod
    def objective(cls, specs, tasks):
        info = tasks[0].info
        return RepairObjective(info["num_classes"], info["num_groups"], specs[0].representation, specs[0].steps)


@register_method("filter_drop")
@dataclass(frozen=True)
class FilterDrop(MethodSpec):
    """Filter-Drop (Nagpal et al. 2020), dropping the ``drop_fraction`` of units the bias head relies on most."""

    drop_fraction: float = 0.5

    def validate(self):
        check(0 < self.drop_fraction < 1, f"drop_fraction must lie in (0, 1), got {self.drop_fraction}")

    @classmethod
    def objective(cls, specs, tasks):
        info = tasks[0].info
        return FilterDropObjective(info["num_classes"], info["num_groups"], specs[0].drop_fraction)
