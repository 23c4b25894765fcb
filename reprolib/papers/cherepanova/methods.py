"""Two training methods of thesis ch. 4 that a batch transform cannot express, as registered methods of the core
trainer (``RunSpec(method=...)``), usable with any recipe:

- ``maxup`` — MaxUp (Gong et al., CVPR 2021; thesis §4.3): each image becomes m augmented copies and the loss is
  the worst copy's, per image: min_θ E_x [max_j L(x̃_j, θ)]. The thesis's "MaxUp-cutout" (Table 4.2) is m = 4
  cutouts.
- ``dp_sgd`` — the DP-SGD baseline of Table 4.2 (Abadi et al. 2016, as Geiping et al. 2021 apply it against
  poisoning, on which the thesis's experiments build): the gradient is clipped to norm ≤ ``clip`` and Gaussian
  noise N(0, (clip · noise)²) is added to every coordinate of the averaged gradient before the optimiser's step;
  "DP-SGD, 0.01" and "DP-SGD, 0.05" are noise 0.01 and 0.05. ``per`` says what is clipped:

  * ``per="batch"`` (the default, and what the tables use): the mini-batch gradient of each run, as in Geiping et
    al.'s framework ("we enforce privacy on mini batches instead of instances to cope with effects on batch
    normalization", ``forest/victims/training.py``), which produced the thesis's numbers. With BatchNorm, as in
    the ResNets here, one image's gradient depends on the whole batch, so per-sample clipping is not defined
    without replacing the normalisation; the defence against poisoning comes from the noise (Hong et al. 2020).
  * ``per="sample"``: Abadi et al.'s clipping, each example's gradient clipped to ``clip`` before the average,
    so no example moves a step by more than clip / B (``per_sample_gradients``: ``torch.func``'s
    ``vmap(grad(…))`` over the batch with ``functional_call``). The noise is the same as per batch, on the
    average: Abadi et al.'s noise multiplier σ added to the sum is noise = σ / B here. It needs a model without
    BatchNorm (``mlp``).

  Neither variant carries a formal privacy guarantee here, and none is claimed.

Both draw their random numbers per run from a generator seeded by the run's seed and the step number (kept in
the objective's state, which checkpoints save), so run k of a K-run group gets what it would get trained alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from ... import mixing
from ...objectives import CrossEntropy, State, cross_entropy, mixed_loss
from ...specs import TRANSFORMS, MethodSpec, TransformSpec, check, check_choice, check_range, register_method
from .transforms import Cutout

__all__ = ["MaxUp", "DPSGD", "MaxUpObjective", "DPSGDObjective", "privatise", "per_sample_gradients", "clip_blocks"]


def step_generators(seeds, step: int, salt: int) -> list[torch.Generator]:
    """One CPU generator per run for training step ``step``, seeded by (seed, step, salt)."""
    return [torch.Generator().manual_seed((int(s) * 1_000_003 + step) * 101 + salt) for s in seeds]


class _Stepped(CrossEntropy):
    """Cross-entropy with a step counter in its state (for per-step generators)."""

    salt = 0

    def build(self, model, setup):
        self.seeds = list(setup.seeds)
        self.mean = torch.tensor([t.mean for t in setup.tasks], device=setup.device)[:, None, :, None, None]
        self.std = torch.tensor([t.std for t in setup.tasks], device=setup.device)[:, None, :, None, None]
        return State({"step": torch.zeros((), dtype=torch.long, device=setup.device)})

    def next_generators(self, extra) -> list[torch.Generator]:
        step = int(extra.step)
        extra.step += 1
        return step_generators(self.seeds, step, self.salt)


class MaxUpObjective(_Stepped):
    """Per-image MaxUp over ``m`` copies made by ``transform``; the copies are one forward pass (K, m·B)."""

    salt = 1

    def __init__(self, num_classes: int, transform: TransformSpec, m: int):
        super().__init__(num_classes)
        self.transform, self.m = transform, m

    def loss(self, model, extra, batch):
        if len(batch.targets) > 1:
            raise ValueError(
                "maxup: the recipe's batch transform already mixed the labels; name the transform in maxup instead"
            )
        generators = self.next_generators(extra)
        pixels = batch.x * self.std + self.mean  # the transforms work on the [0, 1] scale
        copies = mixing.maxup_copies(lambda x, y, g: self.transform(x, y, g), self.m, pixels, batch.labels, generators)
        b = batch.labels.shape[1]
        logits = model(torch.cat([(x - self.mean) / self.std for x, _ in copies], 1))
        losses = torch.stack(
            [mixed_loss(cross_entropy, logits[:, j * b : (j + 1) * b], t) for j, (_, t) in enumerate(copies)]
        )  # (m, K, B)
        return mixing.worst_of(losses).mean(1)


def clip_blocks(grads, blocks: int, clip: float) -> list[torch.Tensor]:
    """Per block b (the b-th of ``blocks`` equal slices of every tensor's leading dimension, taken over all the
    tensors together): its gradient scaled to norm ≤ ``clip``."""
    norms = torch.stack([g.reshape(blocks, -1).float().pow(2).sum(1) for g in grads]).sum(0).sqrt()  # (blocks,)
    factor = (clip / (norms + 1e-6)).clamp(max=1.0)
    return [(g.reshape(blocks, -1) * factor[:, None].to(g.dtype)).reshape(g.shape) for g in grads]


def add_noise(grads, k_runs: int, scale: float, generators) -> list[torch.Tensor]:
    """Per run k: N(0, scale²) added to every coordinate of its block, drawn from ``generators[k]`` (parameter
    after parameter)."""
    if scale == 0:
        return list(grads)
    out = []
    for g in grads:
        blocks = g.reshape(k_runs, -1)
        draws = torch.stack([torch.randn(blocks.shape[1], generator=gen) for gen in generators])
        out.append((blocks + draws.to(blocks.device, blocks.dtype) * scale).reshape(g.shape))
    return out


def privatise(grads, k_runs: int, clip: float, noise: float, generators) -> list[torch.Tensor]:
    """Per run k: its gradient (the k-th block of every parameter's leading dimension) scaled to norm ≤ ``clip``,
    plus N(0, (clip · noise)²) per coordinate drawn from ``generators[k]`` (parameter after parameter)."""
    return add_noise(clip_blocks(grads, k_runs, clip), k_runs, clip * noise, generators)


def per_sample_gradients(model: nn.Module, params: dict, x: torch.Tensor, targets) -> list[torch.Tensor]:
    """The gradient of every image's loss in the parameters ``params`` (name → K-run parameter) of ``model``,
    (B, *shape) per parameter: ``torch.func``'s ``vmap`` over the batch of ``grad`` of one image's cross-entropy
    against its mixed ``targets``, summed over the K runs (run k's loss moves only run k's block)."""
    buffers = dict(model.named_buffers())

    def loss_of_one(values, image, weights, labels):  # image (K, C, H, W); weights, labels: (K,) per target
        logits = functional_call(model, (values, buffers), (image[:, None],))
        pairs = [(w[:, None], y[:, None]) for w, y in zip(weights, labels, strict=True)]
        return mixed_loss(cross_entropy, logits, pairs).sum()

    weights, labels = tuple(w for w, _ in targets), tuple(y for _, y in targets)
    grads = vmap(grad(loss_of_one), in_dims=(None, 1, 1, 1))(params, x, weights, labels)
    return [grads[name] for name in params]


class DPSGDObjective(_Stepped):
    """Cross-entropy whose gradient is the privatised gradient of each run (per batch, or the average of clipped
    per-sample gradients): the loss returned has the cross-entropy's value and, as its gradient in the
    parameters, exactly the privatised one (a linear surrogate Σ_p ⟨p, g̃_p⟩ added with its value subtracted)."""

    salt = 2

    def __init__(self, num_classes: int, clip: float, noise: float, per: str = "batch"):
        super().__init__(num_classes)
        self.clip, self.noise, self.per = clip, noise, per

    def build(self, model, setup):
        if self.per == "sample" and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
            raise ValueError(f"dp_sgd per='sample' needs a model without BatchNorm (mlp), got {setup.model_spec.name}")
        return super().build(model, setup)

    def loss(self, model, extra, batch):
        named = {n: p for n, p in model.named_parameters() if p.requires_grad}
        params = list(named.values())
        k_runs = batch.labels.shape[0]
        if self.per == "sample":
            with torch.no_grad():
                losses = mixed_loss(cross_entropy, model(batch.x), batch.targets).mean(1)  # (K,), its value only
            detached = {n: p.detach() for n, p in named.items()}  # the gradients as values, not functions of p
            grads = per_sample_gradients(getattr(model, "_orig_mod", model), detached, batch.x, batch.targets)
            b = batch.labels.shape[1]
            clipped = clip_blocks([g.flatten(0, 1) for g in grads], b * k_runs, self.clip)
            averaged = [c.reshape(g.shape).mean(0) for c, g in zip(clipped, grads, strict=True)]
            private = add_noise(averaged, k_runs, self.clip * self.noise, self.next_generators(extra))
        else:
            losses = mixed_loss(cross_entropy, model(batch.x), batch.targets).mean(1)  # (K,)
            grads = torch.autograd.grad(losses.sum(), params)
            private = privatise(grads, k_runs, self.clip, self.noise, self.next_generators(extra))
        linear = sum((p * g).reshape(k_runs, -1).sum(1) for p, g in zip(params, private, strict=True))
        return losses.detach() + linear - linear.detach()


@register_method("maxup")
@dataclass(frozen=True)
class MaxUp(MethodSpec):
    """MaxUp (Gong et al. 2021): per image, the worst of ``m`` copies made by ``transform`` (a registered batch
    transform; the thesis's "MaxUp-cutout": m = 4 cutouts)."""

    m: int = 4
    transform: TransformSpec = field(default_factory=Cutout, metadata={"spec": TRANSFORMS})
    num_classes: int = 0  # 0: the task's info["num_classes"]

    def validate(self):
        check_range("m", self.m, 1, None, integer=True)
        check(isinstance(self.transform, TransformSpec), f"transform must be a batch transform, got {self.transform!r}")
        check_range("num_classes", self.num_classes, 0, None, integer=True)

    @classmethod
    def objective(cls, specs, tasks):
        spec = specs[0]
        return MaxUpObjective(spec.num_classes or tasks[0].info["num_classes"], spec.transform, spec.m)


@register_method("dp_sgd")
@dataclass(frozen=True)
class DPSGD(MethodSpec):
    """DP-SGD as the thesis's baseline (Table 4.2): the mini-batch gradient (``per="batch"``) or every example's
    (``per="sample"``) clipped to norm ≤ ``clip``, plus N(0, (clip · noise)²) per coordinate of the average
    (module docstring: the two variants, and why the tables use per batch)."""

    clip: float = 1.0
    noise: float = 0.01
    num_classes: int = 0
    per: str = "batch"

    def validate(self):
        check_range("clip", self.clip, 0, None, open_low=True)
        check_range("noise", self.noise, 0, None)
        check_range("num_classes", self.num_classes, 0, None, integer=True)
        check_choice("per", self.per, ("batch", "sample"))

    @classmethod
    def objective(cls, specs, tasks):
        spec = specs[0]
        return DPSGDObjective(spec.num_classes or tasks[0].info["num_classes"], spec.clip, spec.noise, spec.per)
