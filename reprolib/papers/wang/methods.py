"""Debiasing methods of Wang et al. (2019), §5, as training objectives of the core trainer.

- ``wang_adversarial`` (§5.1, §5.3): a critic c predicts the protected attribute g from an intermediate
  representation h of the predictor; the predictor minimises L(p(X), Y) − λ·L_c(c(h), g) while the critic
  minimises L_c(c(h), g), both in one step through a gradient-reversal layer (Ganin & Lempitsky 2015), which is
  the minimax of §5.1 ("when optimizing L_p, we do not update c"). ``layer``:

  - ``conv5``: h is the last convolutional feature map, vectorised, and c a 4-layer MLP (§5.3);
  - ``conv4``: h is the output of the stage before the last and c three convolutions and four linear layers;
  - ``image``: an encoder–decoder (a small U-Net) predicts a mask M from X, the predictor and the critic see
    X̃ = M ⊙ X, and L_p = β‖X − X̃‖₁ + L(p(X̃), Y) − λ·L_c(c(X̃), g) (§5.1); the critic is a CNN.

  For the first ``warmup`` share of training λ is 0 and the critic learns on detached representations (§5.2:
  the classifier trains first, then "the gender classification branch so that its gradients provide useful
  guidance"); the critic's loss weighs men and women equally in every batch (§5.2: "we sample the same amount
  of male and female images for training this adversary").
- ``wang_randomization`` (§5.3, "Randomization"): the plain multi-label model; at prediction, Gaussian noise of
  standard deviation σ (in units of the embedding's standard deviation over the batch) is added to the
  pre-classification embedding. σ is a per-run field, so a grid of σ trains as one multi-run group of
  identical models.

Both report the multi-label logits ("logits", (K, B, L)); the image-space method also reports its mask ("mask",
(K, B, H, W)) for Figs. 6–7. The model must be a ``MultiResNet`` (``resnet8``, ``resnet18``, …) for ``conv4`` and
``conv5``; any model with ``features``/``head`` for ``image`` and ``wang_randomization``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ...models import MultiMLP, MultiResNet, init_per_run
from ...objectives import Objective, grad_reverse
from ...specs import MethodSpec, SpecError, check_choice, check_range, register_method

__all__ = ["LAYERS", "Adversarial", "Randomization", "feature_map", "balanced_cross_entropy"]

LAYERS = ("image", "conv4", "conv5")
CRITIC_HIDDEN = 300  # the width of the critics' linear layers (the attacker's, §4.1)
EXTRA_SEED_OFFSET = 1_000_003  # the critic's and the mask network's seeds: the run's seed plus this


def balanced_cross_entropy(logits: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Per-run cross-entropy (K,) of (K, B, 2) logits on the 0/1 ``groups`` (K, B), each group weighted ½ (its
    images' mean), as if the batch held as many men as women; a group absent from a run's batch weighs 0."""
    losses = F.cross_entropy(logits.float().flatten(0, 1), groups.flatten(), reduction="none").view(groups.shape)
    total = torch.zeros(len(groups), device=logits.device)
    present = torch.zeros(len(groups), device=logits.device)
    for g in (0, 1):
        members = (groups == g).float()
        count = members.sum(1)
        total = total + (losses * members).sum(1) / count.clamp(min=1)
        present = present + (count > 0).float()
    return total / present.clamp(min=1)


def _stage_ends(model: MultiResNet) -> list[int]:
    """Index (exclusive) in ``model.layers`` of the end of every stage (blocks of one width)."""
    widths = [block.cout for block in model.layers]
    return [i + 1 for i in range(len(widths)) if i + 1 == len(widths) or widths[i + 1] != widths[i]]


def feature_map(model: MultiResNet, x: torch.Tensor, stages: int) -> torch.Tensor:
    """The grouped feature map (B, K·C, H, W) after the stem and the first ``stages`` stages of ``model``."""
    k, b, c, h, w = x.shape
    out = F.relu(model.stem(x.transpose(0, 1).reshape(b, k * c, h, w)))
    return model.layers[: _stage_ends(model)[stages - 1]](out)


def _per_run(grouped: torch.Tensor, k: int) -> torch.Tensor:
    """(B, K·C, H, W) → (K, B, C·H·W)."""
    b = grouped.shape[0]
    return grouped.reshape(b, k, -1).transpose(0, 1)


def _grouped(x: torch.Tensor) -> torch.Tensor:
    """(K, B, C, H, W) → (B, K·C, H, W), the layout of the grouped convolutions."""
    k, b, c, h, w = x.shape
    return x.transpose(0, 1).reshape(b, k * c, h, w)


def _runs_first(grouped: torch.Tensor, k: int) -> torch.Tensor:
    """(B, K·C, H, W) → (K, B, C, H, W)."""
    b, kc, h, w = grouped.shape
    return grouped.view(b, k, kc // k, h, w).transpose(0, 1)


def _pooled_head(model: MultiResNet, grouped: torch.Tensor, k: int) -> torch.Tensor:
    pooled = grouped.mean(dim=(2, 3))
    return model.head(pooled.reshape(grouped.shape[0], k, model.feature_dim).transpose(0, 1))


def _grouped_conv(k, cin, cout, stride=1):
    """K independent 3×3 convolutions; no bias, so ``init_per_run`` seeds every parameter."""
    return nn.Conv2d(k * cin, k * cout, 3, stride, 1, groups=k, bias=False)


class _ConvCritic(nn.Module):
    """K critics: three 3×3 convolutions (the second with stride 2) with ReLU, then a 4-layer MLP to 2 logits
    (§5.3, adv @ conv4: "3 convolutional layers and 4 linear layers"); (K, B, C, H, W) → (K, B, 2)."""

    def __init__(self, k, channels, size):
        super().__init__()
        self.k = k
        self.convs = nn.Sequential(
            _grouped_conv(k, channels, 32),
            nn.ReLU(),
            _grouped_conv(k, 32, 32, 2),
            nn.ReLU(),
            _grouped_conv(k, 32, 32),
            nn.ReLU(),
        )
        side = (size + 1) // 2
        self.mlp = MultiMLP(k, (32 * side * side, *[CRITIC_HIDDEN] * 3, 2))

    def forward(self, x):
        return self.mlp(_per_run(self.convs(_grouped(x)), self.k))


class _UNet(nn.Module):
    """K small encoder–decoders with one skip connection (U-Net, Ronneberger et al. 2015, two levels): X (K, B,
    C, H, W) → a mask M in (0, 1), (K, B, 1, H, W). No normalisation layers (the trainer does not switch extra
    modules to eval mode)."""

    def __init__(self, k, channels, width=16):
        super().__init__()
        self.k, self.width = k, width
        self.enc1 = nn.Sequential(_grouped_conv(k, channels, width), nn.ReLU())
        self.enc2 = nn.Sequential(_grouped_conv(k, width, 2 * width, 2), nn.ReLU())
        last = nn.Conv2d(k * width, k, 1, groups=k, bias=False)
        self.dec = nn.Sequential(_grouped_conv(k, 3 * width, width), nn.ReLU(), last)

    def forward(self, x):
        k, b, c, h, w = x.shape
        e1 = self.enc1(_grouped(x))
        e2 = F.interpolate(self.enc2(e1), size=(h, w), mode="nearest")
        merged = torch.cat([e1.view(b, k, self.width, h, w), e2.view(b, k, 2 * self.width, h, w)], 2)
        mask = torch.sigmoid(self.dec(merged.view(b, k * 3 * self.width, h, w)) + 3.0)  # starts near 1: X̃ ≈ X
        return mask.view(b, k, 1, h, w).transpose(0, 1)


class _ImageCritic(nn.Module):
    """K small CNN critics on images (the paper's ResNet-18, scaled to the stand-in): two grouped convolutions
    with stride 2 and a 4-layer MLP; (K, B, C, H, W) → (K, B, 2)."""

    def __init__(self, k, channels, size):
        super().__init__()
        self.k = k
        self.convs = nn.Sequential(_grouped_conv(k, channels, 16, 2), nn.ReLU(), _grouped_conv(k, 16, 32, 2), nn.ReLU())
        side = (size + 3) // 4
        self.mlp = MultiMLP(k, (32 * side * side, *[CRITIC_HIDDEN] * 3, 2))

    def forward(self, x):
        return self.mlp(_per_run(self.convs(_grouped(x)), self.k))


class _Extras(nn.Module):
    def __init__(self, critic: nn.Module, mask: nn.Module | None):
        super().__init__()
        self.critic, self.mask = critic, mask


class AdversarialObjective(Objective):
    """Multi-label BCE on the labels minus λ times a balanced critic's cross-entropy on g, reversed into the
    representation at ``layer`` (module docstring); reports {"logits"} and, at ``image``, {"mask"}."""

    def __init__(self, num_labels, layer, lambdas, beta, warmup):
        self.num_outputs, self.layer, self.beta, self.warmup = num_labels, layer, beta, warmup
        self.lambdas = torch.as_tensor(lambdas, dtype=torch.float32)

    def build(self, model, setup):
        k, (c, h, w) = len(setup.seeds), setup.in_shape
        self.lambdas = self.lambdas.to(setup.device)
        if self.layer in ("conv4", "conv5") and not isinstance(model, MultiResNet):
            raise SpecError(f"layer {self.layer!r} needs a ResNet model (resnet8, resnet18, …)")
        if self.layer == "image":
            extras = _Extras(_ImageCritic(k, c, h), _UNet(k, c))
        else:
            stages = len(_stage_ends(model)) - (1 if self.layer == "conv4" else 0)
            training = model.training
            model.eval()  # the probe only reads shapes: no BatchNorm statistics of a one-image batch
            with torch.no_grad():
                probe = feature_map(model, torch.zeros(k, 1, c, h, w, device=setup.device), stages)
            model.train(training)
            channels, size = probe.shape[1] // k, probe.shape[2]
            critic = (
                _ConvCritic(k, channels, size)
                if self.layer == "conv4"
                else MultiMLP(k, (channels * size * size, *[CRITIC_HIDDEN] * 3, 2))
            )
            extras = _Extras(critic, None)
        init_per_run(extras, [s + EXTRA_SEED_OFFSET for s in setup.seeds])
        return extras.to(setup.device)

    def _forward(self, model, extras, x):
        """(task logits (K, B, L), the representation the critic sees, its critic, the mask or None)."""
        k = x.shape[0]
        if self.layer == "image":
            mask = extras.mask(x)
            masked = mask * x
            return model(masked).float(), masked, extras.critic, mask
        stages = len(_stage_ends(model))
        if self.layer == "conv5":
            grouped = feature_map(model, x, stages)
            return _pooled_head(model, grouped, k).float(), _per_run(grouped, k), extras.critic, None
        hidden = feature_map(model, x, stages - 1)
        grouped = model.layers[_stage_ends(model)[-2] :](hidden)
        return _pooled_head(model, grouped, k).float(), _runs_first(hidden, k), extras.critic, None

    def loss(self, model, extras, batch):
        logits, representation, critic, mask = self._forward(model, extras, batch.x)
        task = F.binary_cross_entropy_with_logits(logits, batch.labels.float(), reduction="none").mean((1, 2))
        active = batch.progress >= self.warmup
        seen = grad_reverse(representation, self.lambdas) if active else representation.detach()
        critic_loss = balanced_cross_entropy(critic(seen), batch.groups)
        total = task + critic_loss  # the reversal turns + critic_loss into − λ·critic_loss for the predictor
        if mask is not None:
            total = total + self.beta * (batch.x - mask * batch.x).abs().mean((1, 2, 3, 4))
        return total

    def predict(self, model, extras, x, groups):
        logits, _, _, mask = self._forward(model, extras, x)
        out = {"logits": logits}
        if mask is not None:
            out["mask"] = mask[:, :, 0].float()
        return out


@register_method("wang_adversarial")
@dataclass(frozen=True)
class Adversarial(MethodSpec):
    """Adversarial removal of g at ``layer`` (module docstring): λ = ``lam`` (per run), β = ``beta`` (image
    only), λ switched on after the ``warmup`` share of training."""

    per_run: ClassVar[frozenset[str]] = frozenset({"lam"})

    layer: str = "conv5"
    lam: float = 1.0
    beta: float = 1.0
    warmup: float = 0.3

    def validate(self):
        check_choice("layer", self.layer, LAYERS)
        check_range("lam", self.lam, 0, None)
        check_range("beta", self.beta, 0, None)
        check_range("warmup", self.warmup, 0, 1, open_high=True)

    @classmethod
    def objective(cls, specs, tasks):
        first = specs[0]
        return AdversarialObjective(
            tasks[0].info["num_labels"], first.layer, [s.lam for s in specs], first.beta, first.warmup
        )


class RandomizationObjective(Objective):
    """Multi-label BCE; at prediction, noise of σ·std(embedding) is added to the embedding before the head."""

    def __init__(self, num_labels, sigmas):
        self.num_outputs = num_labels
        self.sigmas = torch.as_tensor(sigmas, dtype=torch.float32)
        self.generator: torch.Generator | None = None

    def build(self, model, setup):
        self.sigmas = self.sigmas.to(setup.device)
        self.generator = torch.Generator(device=setup.device).manual_seed(int(setup.seeds[0]) + EXTRA_SEED_OFFSET)
        return None

    def loss(self, model, extra, batch):
        logits = model(batch.x).float()
        return F.binary_cross_entropy_with_logits(logits, batch.labels.float(), reduction="none").mean((1, 2))

    def predict(self, model, extra, x, groups):
        features = model.features(x).float()
        scale = features.std(dim=(1, 2), keepdim=True) * self.sigmas.view(-1, 1, 1)
        noise = torch.randn(features.shape, generator=self.generator, device=features.device)
        return {"logits": model.head(features + scale * noise).float()}


@register_method("wang_randomization")
@dataclass(frozen=True)
class Randomization(MethodSpec):
    """The original multi-label model with Gaussian noise of ``sigma`` (per run; in units of the embedding's
    standard deviation) added to its pre-classification embedding at prediction (§5.3, "Randomization")."""

    per_run: ClassVar[frozenset[str]] = frozenset({"sigma"})

    sigma: float = 0.0

    def validate(self):
        check_range("sigma", self.sigma, 0, 100)

    @classmethod
    def objective(cls, specs, tasks):
        return RandomizationObjective(tasks[0].info["num_labels"], [s.sigma for s in specs])
