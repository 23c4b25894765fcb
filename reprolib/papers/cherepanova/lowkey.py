"""LowKey (Cherepanova et al., ICLR 2021; thesis chapter 3, §3.3.2, eq. 3.1, §3.6.2, §3.8.1, §3.8.6): an adversarial
filter that a user applies to their own photos before posting them, so that a face recognition system that
harvests them into its gallery cannot match them to new photos (probes) of that user.

The objective, eq. 3.1. The source's typesetting is garbled (an underbrace swallowed the first fraction bar); this
book reads it as the ICLR paper's equation (1),

    max_x'  1/(2n) Σ_i [ ‖f_i(A(x)) − f_i(A(x'))‖² / ‖f_i(A(x))‖ + ‖f_i(A(x)) − f_i(A(G(x')))‖² / ‖f_i(A(x))‖ ]
            − α · perceptual(x, x'),

with x the clean image, x' the protected one, f_i the i-th feature extractor of the ensemble, G a Gaussian
smoothing of fixed σ and window, and A face detection and alignment. Here the faces are already aligned and of the
models' input size, so A is the identity (each model standardises its input as in its training). Without
smoothing (Tables 3.3, 3.10, "without GS") the bracket keeps its first term only, averaged over the n models.

The perceptual term: the thesis uses LPIPS, a distance in the features of an ImageNet-trained network whose
weights this offline book cannot download. It uses the structural dissimilarity 1 − SSIM (Wang et al. 2004;
``torchmetrics``, Gaussian window σ = 1.5) instead: 0 for identical images, growing as structure is lost. Its
scale differs from LPIPS's: on the chapter's course models its gradient is small beside the feature term's, so
the thesis's α = 0.05 and 0.08 barely hold the images back there.

The optimisation (§3.3.2, §3.8.1): signed gradient ascent, x' ← clip_[0,1](x' + η · sign ∇_x' objective), for
``steps`` steps of size η (the thesis: 50 steps of 0.0025). At x' = x the feature distance is at its minimum and
its gradient vanishes, so the ascent starts from x plus uniform noise within one step (the random start of Madry
et al. 2017, whom §3.3.2 cites). The protected images are kept as 8-bit images (the thesis saves PNGs), at every
step count of ``snapshots``: the iterate after t steps is exactly what a t-step attack returns, so Table 3.4's
step counts come from one run.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from torchmetrics.functional.image import structural_similarity_index_measure
from torchvision.transforms.functional import gaussian_blur

from ...artifacts import ArtifactSpec, register_artifact
from ...specs import TASKS, check, check_range
from ...store import current_store
from ...sweep import build_task, load_model
from .faces import FaceIdentityTask

__all__ = [
    "gaussian_window",
    "gaussian_smoothing",
    "perceptual_distance",
    "jpeg_round_trip",
    "lowkey_objective",
    "lowkey_attack",
    "gallery_split",
    "LowKeyImages",
    "to_unit",
    "to_uint8",
]

ATTACK_SEED_OFFSET = 7_000_003  # the random start: the artifact's seed plus this


def gaussian_window(sigma: float) -> int:
    """The odd window covering ±3σ, 2·⌈3σ⌉ + 1: the thesis gives no window for its defensive blur (§3.8.6)."""
    return 2 * math.ceil(3 * sigma) + 1


def gaussian_smoothing(x: torch.Tensor, sigma: float, window: int | None = None) -> torch.Tensor:
    """G(x) of eq. 3.1 and the defender's blur (§3.6.2): a Gaussian blur of images (B, C, H, W), standard
    deviation ``sigma`` pixels, a ``window`` × ``window`` kernel (default ``gaussian_window(sigma)``), reflected at
    the borders (torchvision); differentiable. σ = 0 returns ``x``."""
    if sigma == 0:
        return x
    size = window if window is not None else gaussian_window(sigma)
    size = min(size, 2 * (min(x.shape[-2:]) - 1) + 1)  # reflection needs a half-window shorter than the image
    return gaussian_blur(x, [size, size], [sigma, sigma])


def perceptual_distance(x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    """1 − SSIM(x, x′) per image (B,) of images on the [0, 1] scale (the stand-in for LPIPS: module docstring)."""
    return 1 - structural_similarity_index_measure(x_adv, x, data_range=1.0, reduction="none")


def to_unit(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Images on the [0, 1] scale as 8-bit images, as a PNG would keep them."""
    return (x.detach() * 255).round().clamp(0, 255).to(torch.uint8)


def jpeg_round_trip(images: torch.Tensor, quality: int) -> torch.Tensor:
    """8-bit images (B, C, H, W), C = 1 or 3, saved as JPEG at ``quality`` and read back, as a user saving LowKey's
    output in JPEG format (§3.6.4). Pillow (libjpeg) encodes them, as the core's CelebA reader decodes with it;
    torchvision's JPEG encoder is deprecated since torchvision 0.29."""
    check_range("quality", quality, 1, 100, integer=True)
    out = []
    for image in images.numpy():
        buffer = io.BytesIO()
        Image.fromarray(image[0] if len(image) == 1 else image.transpose(1, 2, 0)).save(buffer, "JPEG", quality=quality)
        decoded = np.asarray(Image.open(buffer))
        out.append(decoded[None] if decoded.ndim == 2 else decoded.transpose(2, 0, 1))
    return torch.as_tensor(np.stack(out))


def lowkey_objective(
    models: Sequence[torch.nn.Module],
    clean_features: Sequence[torch.Tensor],
    x: torch.Tensor,
    x_adv: torch.Tensor,
    alpha: float,
    sigma: float,
    window: int | None,
) -> torch.Tensor:
    """Eq. 3.1 per image (B,): the mean over models (and over x′ and G(x′) when ``sigma`` > 0) of
    ‖f_i(x) − f_i(·)‖² / ‖f_i(x)‖, minus α · (1 − SSIM(x, x′)). ``clean_features[i]`` is f_i(x) (B, D)."""
    inputs = [x_adv, gaussian_smoothing(x_adv, sigma, window)] if sigma > 0 else [x_adv]
    total = 0
    for model, clean in zip(models, clean_features, strict=True):
        norm = clean.norm(dim=1)
        for image in inputs:
            total = total + (model(image) - clean).pow(2).sum(1) / norm
    return total / (len(models) * len(inputs)) - alpha * perceptual_distance(x, x_adv)


def lowkey_attack(
    models: Sequence[torch.nn.Module],
    images: torch.Tensor,
    steps: int,
    step_size: float,
    alpha: float,
    sigma: float,
    window: int | None,
    snapshots: Sequence[int],
    seed: int,
) -> dict[int, torch.Tensor]:
    """LowKey on 8-bit images (B, C, H, W) against ``models`` (each: images on the [0, 1] scale → features (B,
    D)): ``steps`` signed-gradient steps of ``step_size`` on eq. 3.1 from a seeded random start within one step;
    returns the 8-bit protected images after each step count of ``snapshots``."""
    check(all(1 <= t <= steps for t in snapshots), f"snapshots must lie in 1 … {steps}, got {list(snapshots)}")
    x = to_unit(images)
    with torch.no_grad():
        clean = [model(x) for model in models]
    generator = torch.Generator().manual_seed(int(seed) + ATTACK_SEED_OFFSET)
    noise = (torch.rand(x.shape, generator=generator) * 2 - 1) * step_size
    x_adv = (x + noise).clamp(0, 1)
    kept = {}
    for step in range(1, steps + 1):
        x_adv.requires_grad_(True)
        objective = lowkey_objective(models, clean, x, x_adv, alpha, sigma, window).sum()
        (grad,) = torch.autograd.grad(objective, x_adv)
        x_adv = (x_adv.detach() + step_size * grad.sign()).clamp(0, 1)
        if step in snapshots:
            kept[step] = to_uint8(x_adv)
    return kept


def gallery_split(
    identities: np.ndarray, probes_per_identity: int, protected_identities: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(probe, protected) boolean masks over a test split's images (§3.4): ``probes_per_identity`` images of every
    identity are probes, the rest its gallery; ``protected_identities`` identities, drawn at random, protect every
    gallery image with LowKey (the thesis: one tenth of each identity's images as probes, 100 identities
    protected). Seeded by ``seed``."""
    rng = np.random.default_rng([ATTACK_SEED_OFFSET, seed])
    ids = np.unique(identities)
    check(
        protected_identities <= len(ids),
        f"protected_identities ({protected_identities}) must be at most the {len(ids)} test identities",
    )
    probe = np.zeros(len(identities), dtype=bool)
    for i in ids:
        members = np.flatnonzero(identities == i)
        check(
            len(members) > probes_per_identity,
            f"an identity with {len(members)} images cannot keep {probes_per_identity} probes and a gallery",
        )
        probe[rng.permutation(members)[:probes_per_identity]] = True
    users = rng.permutation(ids)[:protected_identities]
    return probe, np.isin(identities, users) & ~probe


@register_artifact("lowkey_images")
@dataclass(frozen=True)
class LowKeyImages(ArtifactSpec):
    """The protected gallery images of one attack (module docstring): the test split of ``task``, split by
    ``gallery_split(…, split_seed)``, attacked with the stored runs ``models`` (their keys; one model or an
    ensemble) for ``steps`` steps. Arrays: ``index`` (the protected images' positions in the test split),
    ``step_<t>`` (their 8-bit protected versions after t steps, for t in ``snapshots``)."""

    task: FaceIdentityTask = field(default_factory=FaceIdentityTask, metadata={"spec": TASKS})
    models: tuple[str, ...] = ()
    probes_per_identity: int = 1
    protected_identities: int = 1
    split_seed: int = 0
    steps: int = 50
    step_size: float = 0.0025
    alpha: float = 0.05
    sigma: float = 3.0  # 0: no Gaussian smoothing term
    window: int = 7
    snapshots: tuple[int, ...] = (50,)
    seed: int = 0

    def validate(self):
        check(len(self.models) >= 1, "models must name at least one stored run")
        check_range("probes_per_identity", self.probes_per_identity, 1, None, integer=True)
        check_range("protected_identities", self.protected_identities, 1, None, integer=True)
        check_range("split_seed", self.split_seed, 0, None, integer=True)
        check_range("steps", self.steps, 1, None, integer=True)
        check_range("step_size", self.step_size, 0, 1, open_low=True)
        check_range("alpha", self.alpha, 0, None)
        check_range("sigma", self.sigma, 0, None)
        check(self.window >= 1 and self.window % 2 == 1, f"window must be an odd integer ≥ 1, got {self.window}")
        check(all(1 <= t <= self.steps for t in self.snapshots), f"snapshots must lie in 1 … {self.steps}")
        check_range("seed", self.seed, 0, None, integer=True)

    def compute(self, data_root) -> dict[str, np.ndarray]:
        test = build_task(self.task, data_root).test
        _, protected = gallery_split(
            test.source_labels.numpy(), self.probes_per_identity, self.protected_identities, self.split_seed
        )
        index = np.flatnonzero(protected)
        models = [load_model(key, current_store()) for key in self.models]
        kept = lowkey_attack(
            models,
            test.images[torch.as_tensor(index)],
            self.steps,
            self.step_size,
            self.alpha,
            self.sigma,
            self.window,
            self.snapshots,
            self.seed,
        )
        return {"index": index, **{f"step_{t}": images.numpy() for t, images in kept.items()}}
