"""The augmentations of Cherepanova (2023, thesis §4.3) as batch transforms any recipe can name:
``Recipe(batch_transform=CutMix(alpha=1.0))``. Each is a frozen spec with its strength fields, validated when made,
that calls the batched function of :mod:`reprolib.mixing` once per training step.

MaxUp (thesis §4.3, "MaxUp-cutout" of Table 4.2) is not among them: it trains on the worst of m augmented copies,
which needs the loss of every copy, and a batch transform returns one (x, targets) per step before the loss is
computed. It is a training method (``methods.MaxUp``, registered as ``maxup``) that takes one of these transforms.
"""

from __future__ import annotations

from dataclasses import dataclass

from ... import mixing
from ...specs import TransformSpec, check, check_range, register_transform

__all__ = ["Mixup", "KWayMixup", "CutMix", "Cutout"]


@register_transform("mixup")
@dataclass(frozen=True)
class Mixup(TransformSpec):
    """mixup (Zhang et al. 2018): λ·x + (1 − λ)·x[π], λ ~ Beta(α, α); the thesis uses α = 1 (§4.3)."""

    alpha: float = 1.0

    def validate(self):
        check_range("alpha", self.alpha, 0, None, open_low=True)

    def __call__(self, x, labels, generators):
        return mixing.mixup(x, labels, generators, alpha=self.alpha)


@register_transform("kway_mixup")
@dataclass(frozen=True)
class KWayMixup(TransformSpec):
    """k-way mixup (thesis §4.3): Dirichlet(α·1_k) weights over an image and k − 1 partners; "mixup (4-way)" of
    Table 4.2 is k = 4, α = 1."""

    k: int = 4
    alpha: float = 1.0

    def validate(self):
        check_range("k", self.k, 2, None, integer=True)
        check_range("alpha", self.alpha, 0, None, open_low=True)

    def __call__(self, x, labels, generators):
        return mixing.kway_mixup(x, labels, generators, k=self.k, alpha=self.alpha)


@register_transform("cutmix")
@dataclass(frozen=True)
class CutMix(TransformSpec):
    """CutMix (Yun et al. 2019; thesis §4.3): a partner's box of area share 1 − λ, λ ~ Dir[α, α], α = 1."""

    alpha: float = 1.0

    def validate(self):
        check_range("alpha", self.alpha, 0, None, open_low=True)

    def __call__(self, x, labels, generators):
        return mixing.cutmix(x, labels, generators, alpha=self.alpha)


@register_transform("cutout")
@dataclass(frozen=True)
class Cutout(TransformSpec):
    """cutout (DeVries & Taylor 2017; thesis §4.3: "the patch remains black"): a black ``size`` × ``size`` square;
    ``size`` None: half the shorter image side (``mixing.cutout``). A size larger than the images stops at the
    first step with one line naming the largest accepted."""

    size: int | None = None

    def validate(self):
        check(
            self.size is None or (isinstance(self.size, int) and not isinstance(self.size, bool) and self.size >= 1),
            f"size must be an integer >= 1 or None (half the image side), got {self.size!r}",
        )

    def __call__(self, x, labels, generators):
        return mixing.cutout(x, labels, generators, size=self.size)
