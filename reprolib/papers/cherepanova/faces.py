"""Identity data for face identification (Cherepanova 2023, thesis chapters 5 and 6; chapter 3 reuses them).

A *population* is every identity a builder may draw from: per image its identity, per identity its group (the
thesis's gender presentation: group 0 "male", group 1 "female") and a second attribute (ch. 6's
gerrymandering: age or race), and two disjoint identity pools, ``train`` and ``test``. A *composition* says how
many identities and images of each group a split holds; ``compose`` draws exactly those counts (§5.3, Table
5.1): the share of each group's identities and the share of its images are set independently, so a split can be
imbalanced in identities (same images per identity) or in images per identity (same identities), in the
training set, in the gallery (test) set, or in both (§5.4–5.6).

Two populations:

- ``synthetic`` (the stand-in, embedded, CPU-sized): each identity is a smooth random 16 × 16 grey "face" —
  the template of its group, plus the template of its second attribute, plus an identity component drawn from a
  basis partly shared by both groups and partly specific to its group — and each of its images is that face
  under a random pose (rotation and shift), contrast and pixel noise. ``female_spread`` (< 1) draws group 1's
  identity components smaller, so its identities lie closer together: the knob that makes one group harder to
  tell apart. ``group_specific`` is the share of identity variation along group-specific directions: features
  learnt on one group transfer to the other only through the shared part, so a model trained on fewer
  identities of a group separates that group less well.
  What it keeps of faces: many identities with several images each that vary in nuisance factors, two groups
  that differ in appearance and in how hard their identities are to separate, and an identity space partly
  shared between groups. What it cannot keep: real faces' structure, alignment errors, the correlation of
  gender presentation with hair, make-up or image quality, and the human-visible reasons one group is harder.
- ``celeba`` (the thesis's data): CelebA identities read from a user-given folder in torchvision's layout
  (``identity_CelebA.txt``, ``list_attr_celeba.txt``, ``img_align_celeba/``); an identity's group is the
  majority of its images' ``Male`` attribute (group 0 when male), its second attribute the majority of
  ``Young``. Identities are split into train and test pools by a seeded draw of ``test_identities_per_group``
  per group.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ... import metrics as M
from ...celeba import CELEBA_PAGE, decode_images, read_attributes, read_identities
from ...evaluation import register_evaluator
from ...sources import SourceUnavailable, default_data_root
from ...specs import TaskSpec, check, check_choice, check_range, register_task
from ...tasks import Split, Task, channel_stats

__all__ = [
    "GROUPS",
    "Population",
    "Counts",
    "group_counts",
    "allocate",
    "compose",
    "synthetic_population",
    "celeba_population",
    "FaceIdentityTask",
    "identification_metrics",
    "per_group_rank",
    "class_angles",
    "error_ratio",
]

GROUPS = ("male", "female")  # group 0 and group 1, the thesis's two gender presentations
SOURCES = ("synthetic", "celeba")
GROUP_ATTRIBUTE, SECOND_ATTRIBUTE = "Male", "Young"  # CelebA columns: the group (1 → group 0) and the second one


def _round(x: float) -> int:
    """Half away from zero (Python's round() rounds half to even): 0.5 · 3967 ids → 1984 as in Table 5.2."""
    return int(math.floor(x + 0.5))


@dataclass(frozen=True)
class Population:
    """Every identity a builder may draw from. ``identity`` (N,) is each image's identity, ``group`` and
    ``attribute`` (I,) each identity's group and second attribute, ``pools`` the identities of the train and
    test pools (disjoint), ``load(index)`` the uint8 images (len(index), C, H, W) of image indices."""

    identity: np.ndarray
    group: np.ndarray
    attribute: np.ndarray
    pools: dict
    load: Callable[[np.ndarray], torch.Tensor]
    attribute_levels: int


@dataclass(frozen=True)
class Counts:
    """Identities and images of each group in one split: ``identities[g]``, ``images[g]`` (None: every image of
    the chosen identities)."""

    identities: tuple[int, int]
    images: tuple[int | None, int | None]


def group_counts(identities: int, images: int, male_identity_share: float, male_image_share: float) -> Counts:
    """The counts of a split with ``identities`` identities and ``images`` images of which a share
    ``male_identity_share`` of identities and ``male_image_share`` of images are of group 0 (Table 5.1): the
    thesis's identity imbalance sets both shares equal (same images per identity in both groups), its image
    imbalance keeps the identity share at ½."""
    for name, share in (("male_identity_share", male_identity_share), ("male_image_share", male_image_share)):
        check_range(name, share, 0, 1)
    ids_m = _round(identities * male_identity_share)
    imgs_m = _round(images * male_image_share)
    counts = Counts((ids_m, identities - ids_m), (imgs_m, images - imgs_m))
    for g, name in enumerate(GROUPS):
        ids, imgs = counts.identities[g], counts.images[g]
        check(
            (ids == 0) == (imgs == 0) and imgs >= ids,
            f"{name} group: {imgs} images cannot be spread over {ids} identities (at least one image each)",
        )
    return counts


def allocate(total: int, capacities: Sequence[int]) -> np.ndarray:
    """``total`` images spread over identities with ``capacities`` images each, as evenly as the capacities
    allow: every identity below its capacity gets ⌊level⌋ or ⌊level⌋ + 1 (water-filling), the sum is exactly
    ``total``. Raises ``SpecError`` when the identities do not hold ``total`` images."""
    caps = np.asarray(capacities, dtype=np.int64)
    check(total <= caps.sum(), f"{total} images are asked of identities that hold only {int(caps.sum())}")
    counts = np.zeros(len(caps), dtype=np.int64)
    remaining = total
    for position, i in enumerate(np.argsort(caps, kind="stable")):
        counts[i] = min(caps[i], remaining // (len(caps) - position))
        remaining -= counts[i]
    return counts


def compose(
    identity: np.ndarray, group_of_image: np.ndarray, counts: Counts, generator: np.random.Generator
) -> np.ndarray:
    """Indices of exactly ``counts`` images: per group g, ``counts.identities[g]`` identities drawn uniformly
    among the images' identities of that group, and ``counts.images[g]`` of their images spread as evenly as
    possible (``allocate``), each identity's images drawn uniformly. Sorted."""
    chosen = []
    for g in range(len(GROUPS)):
        ids = np.unique(identity[group_of_image == g])
        n_ids, n_imgs = counts.identities[g], counts.images[g]
        check(n_ids <= len(ids), f"{n_ids} {GROUPS[g]} identities are asked of a pool of {len(ids)}")
        picked = generator.permutation(ids)[:n_ids]
        members = [np.flatnonzero(identity == i) for i in picked]
        sizes = [len(m) for m in members]
        for images, n in zip(members, sizes if n_imgs is None else allocate(n_imgs, sizes), strict=True):
            chosen.append(generator.permutation(images)[:n])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


# --- the synthetic population ---------------------------------------------------------------------------------


def _smooth(n: int, side: int, coarse: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` smooth random patterns (n, side, side) of unit root-mean-square: Gaussian noise on a coarse grid,
    upsampled bicubically."""
    z = torch.randn(n, 1, coarse, coarse, generator=generator)
    x = F.interpolate(z, size=(side, side), mode="bicubic", align_corners=False)[:, 0]
    return x / x.pow(2).mean((1, 2), keepdim=True).sqrt()


@functools.lru_cache(maxsize=4)
def synthetic_population(
    identities_per_group: int,
    test_identities_per_group: int,
    images_per_identity: int,
    female_spread: float,
    group_specific: float,
    noise: float,
    pose: float,
    contrast: float,
    attribute_levels: int,
    side: int = 16,
    seed: int = 0,
) -> Population:
    """The synthetic identity population (module docstring), generated once per process and configuration.

    Identity i of group g and attribute a has the face T_g + ½·A_a + s_g·(√(1−γ)·S z + √γ·B_g z′)/√b, with
    T_g, A_a, the b shared patterns S and the b patterns B_g of group g smooth unit patterns, z, z′ ~ N(0, I),
    s_0 = 1, s_1 = ``female_spread`` and γ = ``group_specific``. Image j of it is the face rotated by U(−pose,
    pose) degrees, shifted by U(−1, 1) pixels, scaled in contrast by U(1 − contrast, 1 + contrast), plus
    N(0, noise²) per pixel, stored as uint8 128 + 32·value. The first ``identities_per_group`` identities of each
    group form the train pool, the next ``test_identities_per_group`` the test pool."""
    g = torch.Generator().manual_seed(seed)
    basis, coarse = 12, 6
    per_group = identities_per_group + test_identities_per_group
    n_ids = 2 * per_group
    group = np.repeat(np.arange(2), per_group)
    templates = _smooth(2, side, coarse, g)
    attribute_templates = _smooth(attribute_levels, side, coarse, g)
    shared = _smooth(basis, side, coarse, g)
    specific = _smooth(2 * basis, side, coarse, g).view(2, basis, side, side)
    attribute = torch.randint(attribute_levels, (n_ids,), generator=g).numpy()
    z_shared = torch.randn(n_ids, basis, generator=g)
    z_specific = torch.randn(n_ids, basis, generator=g)
    spread = torch.tensor([1.0, female_spread])[group]
    own = torch.einsum("nb,bhw->nhw", z_shared, shared) * math.sqrt(1 - group_specific)
    own += torch.einsum("nb,nbhw->nhw", z_specific, specific[group]) * math.sqrt(group_specific)
    faces = templates[group] + 0.5 * attribute_templates[attribute] + spread[:, None, None] * own / math.sqrt(basis)

    n = n_ids * images_per_identity
    identity = np.repeat(np.arange(n_ids), images_per_identity)
    angle = (torch.rand(n, generator=g) * 2 - 1) * math.radians(pose)
    shift = (torch.rand(n, 2, generator=g) * 2 - 1) * (2 / side)  # ±1 pixel in affine_grid's [-1, 1] units
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, (n, 1, side, side), align_corners=False)
    posed = F.grid_sample(faces[identity][:, None], grid, padding_mode="border", align_corners=False)
    scale = 1 + (torch.rand(n, 1, 1, 1, generator=g) * 2 - 1) * contrast
    values = posed * scale + noise * torch.randn(n, 1, side, side, generator=g)
    images = (128 + 32 * values).round().clamp(0, 255).to(torch.uint8)
    ids = np.arange(n_ids)
    pools = {
        "train": ids[(ids % per_group) < identities_per_group],
        "test": ids[(ids % per_group) >= identities_per_group],
    }
    return Population(identity, group, attribute, pools, lambda index: images[torch.as_tensor(index)], attribute_levels)


# --- CelebA ---------------------------------------------------------------------------------------------------


def _celeba_folder(root) -> Path:
    folder = Path(root if root is not None else default_data_root()) / "celeba"
    needed = [folder / "identity_CelebA.txt", folder / "list_attr_celeba.txt", folder / "img_align_celeba"]
    if not all(p.exists() for p in needed):
        raise SourceUnavailable(
            f"CelebA identities are not in {folder}: put img_align_celeba/, identity_CelebA.txt and "
            f"list_attr_celeba.txt there (from {CELEBA_PAGE}, an account is needed) "
            "or pass root=/path/containing/celeba"
        )
    return folder


@functools.lru_cache(maxsize=2)
def celeba_population(root: str | None, side: int, test_identities_per_group: int, seed: int = 0) -> Population:
    """CelebA's identities (module docstring): groups and second attribute by majority over each identity's
    images; a seeded draw of ``test_identities_per_group`` identities per group is the test pool, the rest the
    train pool. Images are decoded when a split asks for them."""
    folder = _celeba_folder(root)
    attributes = read_attributes(folder / "list_attr_celeba.txt")
    identities = read_identities(folder / "identity_CelebA.txt").reindex(attributes.index)
    labels, identity = np.unique(identities.to_numpy(), return_inverse=True)
    count = np.bincount(identity)
    male = np.bincount(identity, weights=attributes[GROUP_ATTRIBUTE].to_numpy()) / count
    young = np.bincount(identity, weights=attributes[SECOND_ATTRIBUTE].to_numpy()) / count
    group = (male < 0.5).astype(np.int64)  # group 0: identities whose images are mostly annotated Male
    rng = np.random.default_rng(seed)
    test = np.concatenate(
        [rng.permutation(np.flatnonzero(group == g))[:test_identities_per_group] for g in range(len(GROUPS))]
    )
    in_test = np.isin(np.arange(len(labels)), test)
    names = attributes.index.to_numpy()

    def load(index):
        return decode_images(folder / "img_align_celeba", names[np.asarray(index)], side)

    pools = {"train": np.flatnonzero(~in_test), "test": np.flatnonzero(in_test)}
    return Population(identity, group, (young >= 0.5).astype(np.int64), pools, load, 2)


# --- the task -------------------------------------------------------------------------------------------------


@register_task("face_identities")
@dataclass(frozen=True)
class FaceIdentityTask(TaskSpec):
    """Face identification data: a training split of identity classes and a test (gallery) split of other
    identities, each of a set composition (``group_counts``: identities, images, and group 0's share of each;
    0 identities or images means the whole pool), and optionally a validation split of ``validation_images``
    held-out images of every training identity that has more than twice as many (thesis §6.3.1: 3 images of
    every identity with more than 6). ``seed`` draws which identities and images a split holds."""

    per_run: ClassVar[frozenset[str]] = frozenset(
        {"seed", "train_male_identity_share", "train_male_image_share", "test_male_identity_share",
         "test_male_image_share"}
    )  # fmt: skip

    source: str = "synthetic"
    root: str | None = None  # CelebA: the folder holding celeba/ (default: the data folder)
    side: int = 16
    identities_per_group: int = 60  # synthetic: train pool per group
    test_identities_per_group: int = 30  # test pool per group (CelebA: drawn from its identities)
    images_per_identity: int = 16  # synthetic
    female_spread: float = 0.5  # synthetic: group 1's identity spread relative to group 0's (< 1: harder)
    group_specific: float = 0.6  # synthetic: share of identity variation along group-specific directions
    noise: float = 0.5  # synthetic: pixel noise (the face has unit root-mean-square)
    pose: float = 15.0  # synthetic: rotation range, degrees
    contrast: float = 0.2  # synthetic
    attribute_levels: int = 4  # synthetic: levels of the second attribute
    train_identities: int = 0  # 0: the whole train pool
    train_images: int = 0  # 0: every image of the chosen identities
    train_male_identity_share: float = 0.5
    train_male_image_share: float = 0.5
    test_identities: int = 0
    test_images: int = 0
    test_male_identity_share: float = 0.5
    test_male_image_share: float = 0.5
    validation_images: int = 0
    seed: int = 0

    def validate(self):
        check_choice("source", self.source, SOURCES)
        check(self.root is None or isinstance(self.root, str), f"root must be a folder path or None, got {self.root!r}")
        check_range("side", self.side, 8, 256, integer=True)
        check_range("identities_per_group", self.identities_per_group, 1, None, integer=True)
        check_range("test_identities_per_group", self.test_identities_per_group, 1, None, integer=True)
        check_range("images_per_identity", self.images_per_identity, 2, None, integer=True)
        check_range("female_spread", self.female_spread, 0, 2, open_low=True)
        check_range("group_specific", self.group_specific, 0, 1)
        check_range("noise", self.noise, 0, None)
        check_range("pose", self.pose, 0, 90)
        check_range("contrast", self.contrast, 0, 1, open_high=True)
        check_range("attribute_levels", self.attribute_levels, 1, 16, integer=True)
        for part in ("train", "test"):
            check_range(f"{part}_identities", getattr(self, f"{part}_identities"), 0, None, integer=True)
            check_range(f"{part}_images", getattr(self, f"{part}_images"), 0, None, integer=True)
            check_range(f"{part}_male_identity_share", getattr(self, f"{part}_male_identity_share"), 0, 1)
            check_range(f"{part}_male_image_share", getattr(self, f"{part}_male_image_share"), 0, 1)
        check_range("validation_images", self.validation_images, 0, None, integer=True)
        check_range("seed", self.seed, 0, None, integer=True)

    def population(self, data_root) -> Population:
        if self.source == "celeba":
            root = self.root or (str(data_root) if data_root is not None else None)
            return celeba_population(root, self.side, self.test_identities_per_group)
        return synthetic_population(
            self.identities_per_group,
            self.test_identities_per_group,
            self.images_per_identity,
            self.female_spread,
            self.group_specific,
            self.noise,
            self.pose,
            self.contrast,
            self.attribute_levels,
            self.side,
        )

    def counts(self, part: str, population: Population) -> Counts:
        """The composition of split ``part`` (train or test): 0 identities means as many identities of each group
        as the pool's smaller group holds (the whole pool when it is balanced, as the synthetic one is), 0
        images every image of the chosen identities."""
        pool = population.pools[part]
        smaller = min(int((population.group[pool] == g).sum()) for g in range(len(GROUPS)))
        identities = getattr(self, f"{part}_identities") or 2 * smaller
        images = getattr(self, f"{part}_images")
        male_ids = getattr(self, f"{part}_male_identity_share")
        if not images:
            ids = group_counts(identities, identities, male_ids, male_ids).identities
            return Counts(ids, (None, None))
        return group_counts(identities, images, male_ids, getattr(self, f"{part}_male_image_share"))

    def build(self, data_root) -> Task:
        population = self.population(data_root)
        group_of_image = population.group[population.identity]
        rng = np.random.default_rng(self.seed)
        splits, info = {}, {"attributes": {}, "counts": {}}
        for part in ("train", "test"):
            in_pool = np.isin(population.identity, population.pools[part])
            identity = np.where(in_pool, population.identity, -1)
            counts = self.counts(part, population)
            index = compose(identity, np.where(in_pool, group_of_image, -1), counts, rng)
            splits[part] = index
        train_index, validation_index = _hold_out(population.identity, splits["train"], self.validation_images, rng)
        classes = {int(i): c for c, i in enumerate(np.unique(population.identity[train_index]))}
        out = {}
        for part, index in (("train", train_index), ("validation", validation_index), ("test", splits["test"])):
            if part == "validation" and not self.validation_images:
                continue
            identity = population.identity[index]
            labels = [classes[int(i)] for i in identity] if part != "test" else identity
            out[part] = Split(
                population.load(index),
                torch.as_tensor(np.asarray(labels, dtype=np.int64)),
                torch.as_tensor(population.group[identity], dtype=torch.int64),
                torch.as_tensor(identity, dtype=torch.int64),
            )
            info["attributes"][part] = torch.as_tensor(population.attribute[identity], dtype=torch.int64)
            info["counts"][part] = {
                "identities": [len(np.unique(identity[population.group[identity] == g])) for g in range(2)],
                "images": [int((population.group[identity] == g).sum()) for g in range(2)],
            }
        info["num_classes"] = len(classes)
        info["attribute_levels"] = population.attribute_levels
        mean, std = channel_stats(out["train"].images)
        return Task(
            f"{self.source}-identities", out["train"], out["test"], mean, std, info, "identification",
            out.get("validation"),
        )  # fmt: skip


def _hold_out(identity, index, per_identity: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out): ``per_identity`` random images of every identity in ``index`` with more than twice as
    many are held out (thesis §6.3.1: 3 of every identity with more than 6)."""
    if not per_identity:
        return index, np.zeros(0, dtype=np.int64)
    held = []
    for i in np.unique(identity[index]):
        members = index[identity[index] == i]
        if len(members) > 2 * per_identity:
            held.append(rng.permutation(members)[:per_identity])
    held = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    return np.setdiff1d(index, held), held


# --- evaluation -----------------------------------------------------------------------------------------------


def error_ratio(male: float, female: float) -> float:
    """The thesis's female-to-male error ratio (1 − acc_F) / (1 − acc_M) (Tables 5.2–5.7); NaN when either
    accuracy is missing or the male error is 0."""
    if not (np.isfinite(male) and np.isfinite(female)) or male >= 1:
        return float("nan")
    return (1 - female) / (1 - male)


def per_group_rank(embeddings, identities, groups, k: int = 1) -> dict[str, float]:
    """Rank-k accuracy of each group's images as probes against every other image of the set (thesis §5.3),
    keyed by group name, with the overall accuracy (``all``)."""
    groups = np.asarray(groups)
    out = {name: M.rank_k_accuracy(embeddings, identities, k, probes=groups == g) for g, name in enumerate(GROUPS)}
    out["all"] = M.rank_k_accuracy(embeddings, identities, k)
    return out


def class_angles(embeddings, identities, groups) -> dict[str, float]:
    """Mean intra- and inter-class angles per group, in degrees (thesis §6.4.4 after Wang & Deng 2020): intra, the
    mean angle between an identity's mean feature and its images' features; inter, the smallest angle between an
    identity's mean feature and another identity's, averaged over the group's identities."""
    x = F.normalize(torch.as_tensor(np.asarray(embeddings), dtype=torch.float64), dim=1)
    ids, inverse = np.unique(np.asarray(identities), return_inverse=True)
    inverse = torch.as_tensor(inverse)
    centres = F.normalize(torch.zeros(len(ids), x.shape[1], dtype=torch.float64).index_add_(0, inverse, x), dim=1)
    intra = torch.rad2deg(torch.arccos((x * centres[inverse]).sum(1).clamp(-1, 1)))
    cosines = centres @ centres.T
    cosines.fill_diagonal_(-1.0)
    inter = torch.rad2deg(torch.arccos(cosines.max(1).values.clamp(-1, 1)))
    group_of_identity = np.zeros(len(ids), dtype=np.int64)
    group_of_identity[inverse.numpy()] = np.asarray(groups)
    out = {}
    for g, name in enumerate(GROUPS):
        images, members = torch.as_tensor(np.asarray(groups) == g), torch.as_tensor(group_of_identity == g)
        out[f"intra_{name}"] = float(intra[images].mean()) if images.any() else float("nan")
        out[f"inter_{name}"] = float(inter[members].mean()) if members.any() and len(ids) > 1 else float("nan")
    return out


@register_evaluator("identification")
def identification_metrics(task: Task, split: str, outputs: dict) -> dict:
    """Open-set identification (thesis §5.3, §6.3.1) on the validation and test splits: every image a probe
    against the rest of the split by cosine similarity of its embedding; rank-1 and rank-5 accuracy per group,
    the gap male − female, the error ratio, the rank-1 accuracy per level of the second attribute
    (``attribute_<a>``), and the intra-/inter-class angles. On the training and validation splits, whose
    identities are the training classes, also the classification accuracy of the margin head per group
    (``class_<group>``; thesis §6.3.1: "on training data we … report classification accuracy")."""
    part = task.split(split)
    groups, identities = part.groups.numpy(), part.source_labels.numpy()
    metrics = {}
    if split != "train" and "embedding" in outputs:
        embeddings = outputs["embedding"].double().numpy()
        for k in (1, 5):
            for name, value in per_group_rank(embeddings, identities, groups, k).items():
                metrics[name if k == 1 else f"rank5_{name}"] = value
        attributes = task.info["attributes"][split].numpy()
        for a in range(task.info["attribute_levels"]):
            metrics[f"attribute_{a}"] = M.rank_k_accuracy(embeddings, identities, 1, probes=attributes == a)
        metrics.update(class_angles(embeddings, identities, groups))
    if split != "test" and "class_pred" in outputs:
        correct = (outputs["class_pred"] == part.labels).numpy()
        for g, name in enumerate(GROUPS):
            metrics[f"class_{name}"] = float(correct[groups == g].mean()) if (groups == g).any() else float("nan")
    for prefix in ("", "class_"):
        if f"{prefix}male" in metrics:
            male, female = metrics[f"{prefix}male"], metrics[f"{prefix}female"]
            metrics[f"{prefix}gap"] = male - female
            metrics[f"{prefix}error_ratio"] = error_ratio(male, female)
    return metrics
