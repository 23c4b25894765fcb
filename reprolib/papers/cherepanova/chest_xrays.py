"""A binary diagnosis stand-in for CheXpert (Cherepanova 2023, thesis §6.3.2, Tables 6.1, 6.8–6.10, Fig. 6.3).

CheXpert (Irvin et al. 2019) is chest radiographs labelled with the presence of a pathology, with the patient's
sex and age; its training labels come from radiology reports (noisy), its test set is labelled by radiologists.
The thesis measures each sex's AUC on the training, validation (a random 20% of the training data) and test
splits; the training split is 60% male, validation and test 55% (§6.3.2).

The stand-in (embedded, CPU-sized), one task per run seeded by ``seed``:

- every image is a 16 × 16 grey "radiograph": smooth random anatomy (white noise blurred by a Gaussian of
  ``blur`` pixels), plus a sex template (+ for group 0 "male", − for group 1 "female") and an age template (one
  step per age level), plus, when the pathology is present, a Gaussian "opacity" of amplitude ``signal`` (times
  the age level's factor ``age_signal``: fainter in older patients) at a random place in the central half, plus
  pixel noise;
- the pathology is present with the age level's prevalence ``prevalence`` (more common with age);
- the training and validation labels are the clean labels with exactly round(rate · n) of each sex's images
  flipped, ``noise_male`` and ``noise_female`` (report-derived labels, noisier for one sex: the stand-in's
  reason the model is less accurate for females); the test labels are clean (radiologist-labelled);
- the shares of males are exact: ``male_share`` of the training split, ``eval_male_share`` of the validation
  and test splits; the age levels are exactly balanced in every split.

What it keeps: a binary label whose evidence is local and faint, two sensitive attributes that change the
image's appearance (so the network can tell them), one of which (age) also changes prevalence and difficulty,
and sex-dependent label noise on everything but the test set, so an overparameterised network fits the
training labels of both sexes while generalising worse for one. What it cannot keep: real anatomy, five
pathologies, view positions, and the reasons real report labels are noisy.

The ``group_auc`` evaluator reports per split the AUC of each sex, their gap, the AUC per age level, and the
thesis's three penalties evaluated on the split's predictions (``fairness_penalties``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from sklearn.metrics import roc_auc_score

from ...evaluation import register_evaluator
from ...specs import TaskSpec, check, check_range, register_task
from ...tasks import Split, Task, channel_stats
from .faces import GROUPS
from .fairness_penalties import disparate_impact, equalized_odds, group_means

__all__ = ["ChestXrayTask", "flip_exactly", "group_auc", "auc_metrics", "SIDE"]

SIDE = 16
TEMPLATE_SEED = 20_230_617  # the population's sex and age templates: the same for every run
SPLITS = ("train", "validation", "test")


def flip_exactly(labels: np.ndarray, groups: np.ndarray, rates, rng: np.random.Generator) -> np.ndarray:
    """``labels`` with exactly round(rates[g] · n_g) randomly chosen labels of each group g flipped (0 ↔ 1)."""
    out = labels.copy()
    for g, rate in enumerate(rates):
        members = np.flatnonzero(groups == g)
        chosen = rng.permutation(members)[: int(np.floor(rate * len(members) + 0.5))]
        out[chosen] = 1 - out[chosen]
    return out


def _exact_shares(n: int, shares, rng: np.random.Generator) -> np.ndarray:
    """n values in random order with exactly round(share · n) of each value but the last (which takes the rest)."""
    counts = [int(np.floor(s * n + 0.5)) for s in shares[:-1]]
    values = np.concatenate([np.full(c, v) for v, c in enumerate(counts)] + [np.full(n - sum(counts), len(counts))])
    return rng.permutation(values.astype(np.int64))


def _smooth(rng: np.random.Generator, shape, blur: float) -> np.ndarray:
    """Gaussian-blurred white noise rescaled to unit standard deviation per image (last two axes)."""
    field = gaussian_filter(rng.normal(size=shape), sigma=(0,) * (len(shape) - 2) + (blur, blur))
    return field / field.std(axis=(-2, -1), keepdims=True)


@register_task("chest_xray_standin")
@dataclass(frozen=True)
class ChestXrayTask(TaskSpec):
    """The synthetic binary diagnosis task (module docstring): sizes of the three splits, the sexes' shares, the
    label noise per sex, the age levels' prevalence and signal factors, and the image model's strengths."""

    per_run: ClassVar[frozenset[str]] = frozenset({"seed"})

    train_images: int = 3000
    validation_images: int = 1000
    test_images: int = 2000
    male_share: float = 0.6  # §6.3.2: "the training set is primarily composed of males (60%)"
    eval_male_share: float = 0.55  # "validation and test sets are more balanced (55% males)"
    noise_male: float = 0.05
    noise_female: float = 0.2
    prevalence: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6)  # per age level, youngest first
    age_signal: tuple[float, ...] = (1.2, 1.0, 0.85, 0.7)  # the opacity's amplitude factor per age level
    signal: float = 4.0
    sex_strength: float = 0.5
    age_strength: float = 0.3
    blur: float = 2.0
    noise: float = 0.5
    seed: int = 0

    def validate(self):
        for name in ("train_images", "validation_images", "test_images"):
            check_range(name, getattr(self, name), 20, None, integer=True)
        for name in ("male_share", "eval_male_share", "noise_male", "noise_female"):
            check_range(name, getattr(self, name), 0, 1)
        check(
            len(self.prevalence) >= 1 and all(0 < p < 1 for p in self.prevalence),
            f"prevalence must be one or more numbers in (0, 1), one per age level, got {self.prevalence}",
        )
        check(
            len(self.age_signal) == len(self.prevalence) and all(s >= 0 for s in self.age_signal),
            f"age_signal must hold one number ≥ 0 per age level ({len(self.prevalence)}), got {self.age_signal}",
        )
        for name in ("signal", "sex_strength", "age_strength", "noise"):
            check_range(name, getattr(self, name), 0, None)
        check_range("blur", self.blur, 0, 8, open_low=True)
        check_range("seed", self.seed, 0, None, integer=True)

    @property
    def age_levels(self) -> int:
        return len(self.prevalence)

    def templates(self) -> tuple[np.ndarray, np.ndarray]:
        """The sex and the age template (SIDE × SIDE, unit standard deviation), fixed for the population."""
        sex, age = _smooth(np.random.default_rng(TEMPLATE_SEED), (2, SIDE, SIDE), self.blur)
        return sex, age

    def draw(self, n: int, male_share: float, rng: np.random.Generator):
        """n images with their sexes, age levels and clean labels: (uint8 (n, 1, SIDE, SIDE), sex, age, label)."""
        sex = _exact_shares(n, (male_share, 1 - male_share), rng)
        levels = self.age_levels
        age = _exact_shares(n, (1 / levels,) * levels, rng)
        label = (rng.random(n) < np.asarray(self.prevalence)[age]).astype(np.int64)
        sex_template, age_template = self.templates()
        step = age - (levels - 1) / 2
        x = _smooth(rng, (n, SIDE, SIDE), self.blur)
        x += self.sex_strength * np.where(sex == 0, 1.0, -1.0)[:, None, None] * sex_template
        x += self.age_strength * step[:, None, None] * age_template
        centre = rng.uniform(SIDE / 4, 3 * SIDE / 4, (n, 2))
        grid = np.arange(SIDE)
        blob = np.exp(
            -(
                (grid[None, :, None] - centre[:, 0, None, None]) ** 2
                + (grid[None, None, :] - centre[:, 1, None, None]) ** 2
            )
            / (2 * 1.5**2)
        )
        x += (self.signal * np.asarray(self.age_signal)[age] * label)[:, None, None] * blob
        x += self.noise * rng.normal(size=x.shape)
        images = np.clip(np.round(128 + 32 * x), 0, 255).astype(np.uint8)[:, None]
        return images, sex, age, label

    def build(self, data_root) -> Task:
        rng = np.random.default_rng(self.seed)
        splits, ages = {}, {}
        for part in SPLITS:
            n = getattr(self, f"{part}_images")
            share = self.male_share if part == "train" else self.eval_male_share
            images, sex, age, clean = self.draw(n, share, rng)
            noisy = clean if part == "test" else flip_exactly(clean, sex, (self.noise_male, self.noise_female), rng)
            splits[part] = Split(
                torch.from_numpy(images),
                torch.from_numpy(noisy),
                torch.from_numpy(sex),
                torch.from_numpy(clean),  # the clean label (the test split's labels are these)
            )
            ages[part] = torch.from_numpy(age)
        mean, std = channel_stats(splits["train"].images)
        info = {"attributes": ages, "age_levels": self.age_levels, "num_classes": 2}
        return Task(
            "chest-xray-standin", splits["train"], splits["test"], mean, std, info, "group_auc", splits["validation"]
        )


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC (scikit-learn); NaN when only one class is present."""
    return float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else float("nan")


def auc_metrics(labels, scores, groups, ages, age_levels: int) -> dict:
    """Per-sex AUC (``male``, ``female``), their gap (male − female, and its absolute value: the thesis's "Gap"),
    the overall AUC (``all``), the AUC per age level (``age_<a>``) and its spread (max − min across levels), and
    the thesis's penalties on these predictions: |L_M − L_F| of the binary cross-entropy (eq. 6.2),
    disparate impact (eq. 6.9) and equalized odds, fpr + fnr (eqs. 6.4–6.6)."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    groups, ages = np.asarray(groups), np.asarray(ages)
    out = {name: _auc(labels[groups == g], scores[groups == g]) for g, name in enumerate(GROUPS)}
    out["all"] = _auc(labels, scores)
    out["gap"] = out["male"] - out["female"]
    out["abs_gap"] = abs(out["gap"])
    per_age = [_auc(labels[ages == a], scores[ages == a]) for a in range(age_levels)]
    out.update({f"age_{a}": v for a, v in enumerate(per_age)})
    out["age_spread"] = float(np.nanmax(per_age) - np.nanmin(per_age)) if np.isfinite(per_age).any() else np.nan
    p = torch.as_tensor(scores)[None].clamp(1e-7, 1 - 1e-7)
    y, a = torch.as_tensor(labels, dtype=torch.float64)[None], torch.as_tensor(groups, dtype=torch.int64)[None]
    bce = -(y * p.log() + (1 - y) * (1 - p).log())
    means = group_means(bce, a)[0]
    out["equal_loss"] = float((means[0] - means[1]).abs())
    out["disparate_impact"] = float(disparate_impact(p, a)[0])
    out["equalized_odds"] = float(equalized_odds(p, y, a)[0])
    return out


@register_evaluator("group_auc")
def group_auc(task: Task, split: str, outputs: torch.Tensor) -> dict:
    """``auc_metrics`` of a run's P(pathology) on ``split`` against that split's labels (noisy on train and
    validation, clean on test, as in CheXpert)."""
    part = task.split(split)
    return auc_metrics(
        part.labels.numpy(),
        outputs.double().numpy(),
        part.groups.numpy(),
        task.info["attributes"][split].numpy(),
        task.info["age_levels"],
    )
