"""Batched label-mixing augmentations — mixup, k-way mixup, CutMix, cutout — and MaxUp over their copies.

These are the augmentations that Cherepanova (2023, thesis ch. 4; Borgnia et al., "Strong data augmentation
sanitizes poisoning and backdoor attacks without an accuracy tradeoff", ICASSP 2021) tests as a defence: mixup
(Zhang et al., "mixup: Beyond empirical risk minimization", ICLR 2018), its k-way generalisation with
Dirichlet(α·1_k) weights (thesis §4.3), CutMix (Yun et al., ICCV 2019), cutout (DeVries & Taylor,
arXiv:1708.04552, 2017) and MaxUp (Gong et al., CVPR 2021, arXiv:2002.09024) over m cutouts.

Every method has one signature, so the trainer can call any of them through one hook::

    fn(x, labels, generators, **strength) -> (x_mixed, targets)

``x`` is a float tensor (K, B, C, H, W) on the [0, 1] pixel scale (K runs of B images), ``labels`` int64 (K, B),
``generators`` K CPU ``torch.Generator`` objects. Run k's random numbers are drawn on the CPU from
``generators[k]`` alone, in a fixed order stated by each function, and then moved to ``x.device``, so run k of a
K-run group gets exactly what it would get trained alone. ``targets`` is a list of (weights, labels) pairs, both
(K, B), whose weights sum to 1 per image; the loss is Σ_j weights_j · CE(logits, labels_j).

Random parameters are drawn per image (as in :mod:`reprolib.augment`), not once per batch as in Zhang et al.'s
and Yun et al.'s code: each image's λ then has the paper's distribution, and the images of a step are not tied
to one shared mixing ratio (or, for CutMix, one shared box), which would only add variance between steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

__all__ = ["mixup", "kway_mixup", "cutmix", "cutout", "maxup_copies", "worst_of", "MIXINGS"]

Targets = list[tuple[torch.Tensor, torch.Tensor]]


def _check_generators(x: torch.Tensor, generators: Sequence[torch.Generator]) -> None:
    if x.dim() != 5 or len(generators) != x.shape[0]:
        raise ValueError(
            f"x must be (K, B, C, H, W) with one generator per run, got {tuple(x.shape)} and "
            f"{len(generators)} generator(s)"
        )


def _check_alpha(alpha: float) -> None:
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha!r}")


def _dirichlet(n: int, k: int, alpha: float, generator: torch.Generator) -> torch.Tensor:
    """n draws of Dirichlet(α·1_k), (n, k). The last weight is one minus the others, so the weights of an image sum
    to 1 up to one rounding (exactly, for k = 2: the pair is (λ, 1 − λ) with λ ~ Beta(α, α)). Sampled with
    ``torch._sample_dirichlet``, the sampler behind ``torch.distributions.Dirichlet``, because only it takes a
    generator."""
    w = torch._sample_dirichlet(torch.full((n, k), float(alpha), dtype=torch.float64), generator=generator)
    head = w[:, :-1].float()
    return torch.cat([head, (1 - head.sum(1, keepdim=True)).clamp(min=0)], 1)


def _partners(x: torch.Tensor, labels: torch.Tensor, perms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Image perms[k, i] of run k (and its label) at position (k, i)."""
    runs = torch.arange(x.shape[0], device=x.device)[:, None]
    return x[runs, perms], labels[runs, perms]


def kway_mixup(
    x: torch.Tensor, labels: torch.Tensor, generators: Sequence[torch.Generator], k: int = 3, alpha: float = 1.0
) -> tuple[torch.Tensor, Targets]:
    """k-way mixup (thesis §4.3): each image is the convex combination Σ_j w_j · x[π_j] of itself (π_0 the
    identity) and its partners under k − 1 random permutations π_1 … π_{k−1} of the run's batch, with weights
    w ~ Dirichlet(α·1_k) drawn per image; its targets are the k pairs (w_j, y[π_j]). The thesis uses α = 1 and
    k = 4 ("mixup (4-way)", Table 4.2).

    Draws per run, from its generator: the k − 1 permutations (``torch.randperm``), then the (B, k) weights."""
    _check_generators(x, generators)
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k!r}")
    _check_alpha(alpha)
    batch = labels.shape[1]
    perms, weights = [], []
    for g in generators:
        perms.append(torch.stack([torch.arange(batch)] + [torch.randperm(batch, generator=g) for _ in range(k - 1)]))
        weights.append(_dirichlet(batch, k, alpha, g))
    perms = torch.stack(perms, 1).to(x.device)  # (k, K, B)
    weights = torch.stack(weights).to(x.device, x.dtype)  # (K, B, k)
    mixed = torch.zeros_like(x)
    targets = []
    for j in range(k):
        images, partner_labels = _partners(x, labels, perms[j])
        mixed = mixed + weights[..., j, None, None, None] * images
        targets.append((weights[..., j], partner_labels))
    return mixed, targets


def mixup(
    x: torch.Tensor, labels: torch.Tensor, generators: Sequence[torch.Generator], alpha: float = 1.0
) -> tuple[torch.Tensor, Targets]:
    """mixup (Zhang et al., 2018): λ·x + (1 − λ)·x[π] with targets [(λ, y), (1 − λ, y[π])], λ ~ Beta(α, α) per
    image and π a random permutation of the run's batch. This is :func:`kway_mixup` with k = 2 (Beta(α, α) is
    Dirichlet(α, α)'s first coordinate), so the draws per run are π, then the (B, 2) weights (λ, 1 − λ)."""
    return kway_mixup(x, labels, generators, k=2, alpha=alpha)


def _boxes(
    n: int, height: int, width: int, box_h: torch.Tensor, box_w: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Boxes of box_h × box_w pixels centred at a uniform pixel (centre row, then column drawn), clipped to the
    image: (n, 4) integer rows [top, bottom) and columns [left, right)."""
    cy = torch.randint(height, (n,), generator=generator)
    cx = torch.randint(width, (n,), generator=generator)
    top, left = cy - box_h // 2, cx - box_w // 2
    return torch.stack(
        [top.clamp(0, height), (top + box_h).clamp(0, height), left.clamp(0, width), (left + box_w).clamp(0, width)], 1
    )


def _box_mask(boxes: torch.Tensor, height: int, width: int, device: torch.device) -> torch.Tensor:
    """(K, B, 4) boxes → bool masks (K, B, 1, H, W), true inside the box."""
    boxes = boxes.to(device)[..., None]
    rows = torch.arange(height, device=device)
    cols = torch.arange(width, device=device)
    inside_rows = (rows >= boxes[..., 0, :]) & (rows < boxes[..., 1, :])  # (K, B, H)
    inside_cols = (cols >= boxes[..., 2, :]) & (cols < boxes[..., 3, :])  # (K, B, W)
    return (inside_rows[..., :, None] & inside_cols[..., None, :])[:, :, None]


def cutmix(
    x: torch.Tensor, labels: torch.Tensor, generators: Sequence[torch.Generator], alpha: float = 1.0
) -> tuple[torch.Tensor, Targets]:
    """CutMix (Yun et al., 2019; thesis §4.3): paste into each image the same box of a partner image x[π], the box
    ⌊H·√(1 − λ)⌋ × ⌊W·√(1 − λ)⌋ pixels centred at a uniform pixel and clipped to the image, λ ~ Beta(α, α) per
    image. As in Yun et al.'s code the label weight is the pasted area share after clipping, r = box area / (H·W):
    targets [(1 − r, y), (r, y[π])]. The box keeps its full side (Yun et al.'s code spans centre ± ⌊side/2⌋, which
    drops a pixel from odd sides). Every image is mixed (Yun et al. mixed a batch with probability ½ on CIFAR).

    Draws per run, from its generator: π, then λ (as in :func:`mixup`), then the box centre rows and columns."""
    _check_generators(x, generators)
    _check_alpha(alpha)
    batch = labels.shape[1]
    height, width = x.shape[-2:]
    perms, boxes = [], []
    for g in generators:
        perms.append(torch.randperm(batch, generator=g))
        cut = torch.sqrt(1 - _dirichlet(batch, 2, alpha, g)[:, 0])
        boxes.append(_boxes(batch, height, width, (height * cut).long(), (width * cut).long(), g))
    boxes = torch.stack(boxes)  # (K, B, 4)
    share = ((boxes[..., 1] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 2])).double() / (height * width)
    share = share.to(x.device, x.dtype)
    partner_images, partner_labels = _partners(x, labels, torch.stack(perms).to(x.device))
    mixed = torch.where(_box_mask(boxes, height, width, x.device), partner_images, x)
    return mixed, [(1 - share, labels), (share, partner_labels)]


def cutout(
    x: torch.Tensor, labels: torch.Tensor, generators: Sequence[torch.Generator], size: int | None = None
) -> tuple[torch.Tensor, Targets]:
    """cutout (DeVries & Taylor, 2017): zero a ``size`` × ``size`` square centred at a uniform pixel, clipped at the
    border; labels unchanged, targets [(1, y)]. On the [0, 1] scale zero is black, the thesis's "the patch remains
    black" (DeVries & Taylor zeroed normalised images, i.e. the mean colour).

    The thesis does not state the side. The default is half the shorter image side: DeVries & Taylor's 16 pixels
    on CIFAR-10's 32 × 32 images, scaled to 14 on Fashion-MNIST's 28 × 28 and 4 on the 8 × 8 digits (they used
    8 pixels on CIFAR-100, a quarter of the side).

    Draws per run, from its generator: the centre rows, then columns."""
    _check_generators(x, generators)
    height, width = x.shape[-2:]
    side = min(height, width)
    if size is None:
        size = max(1, side // 2)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= side:
        raise ValueError(f"size must be an integer in [1, {side}] (the shorter image side), got {size!r}")
    batch = labels.shape[1]
    square = torch.full((batch,), size)
    boxes = torch.stack([_boxes(batch, height, width, square, square, g) for g in generators])
    mixed = x.masked_fill(_box_mask(boxes, height, width, x.device), 0)
    return mixed, [(torch.ones(labels.shape, dtype=x.dtype, device=x.device), labels)]


def maxup_copies(
    fn: Callable, m: int, x: torch.Tensor, labels: torch.Tensor, generators: Sequence[torch.Generator], **strength
) -> list[tuple[torch.Tensor, Targets]]:
    """MaxUp's m augmented copies (Gong et al., 2021): ``fn(x, labels, generators, **strength)`` called m times,
    copy after copy, each run drawing from its own generator; the thesis's "MaxUp-cutout" is ``fn=cutout, m=4``.
    Train on the worst copy of each image: compute each copy's per-image losses and reduce the (m, K, B) losses
    with :func:`worst_of` (what a MaxUp training method does)."""
    if isinstance(m, bool) or not isinstance(m, int) or m < 1:
        raise ValueError(f"m must be an integer >= 1, got {m!r}")
    return [fn(x, labels, generators, **strength) for _ in range(m)]


def worst_of(losses: torch.Tensor) -> torch.Tensor:
    """The MaxUp loss of each image: the largest of its m copies' losses, (m, K, B) → (K, B); the gradient flows
    through each image's worst copy only. This is Gong et al.'s objective (thesis §4.3), min_θ E_x[max_j
    L(x̃_j, θ)]: the max is taken per image, then averaged over the batch by the caller."""
    if losses.dim() != 3:
        raise ValueError(f"losses must be (m, K, B): one loss per copy, run and image, got shape {tuple(losses.shape)}")
    return losses.max(0).values


# name → mixing function, for lookup by name (MaxUp wraps one of these through maxup_copies and worst_of)
MIXINGS = {"mixup": mixup, "kway_mixup": kway_mixup, "cutmix": cutmix, "cutout": cutout}
