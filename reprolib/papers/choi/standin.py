"""The course stand-in of the paper's COCO embeddings: synthetic embeddings built to match Table 1.

Why synthetic embeddings and not Part II's image stand-in (``wang_coco_standin``): that stand-in draws its
objects from the digits 0–8 (at most six labelled objects, digit 9 being its unlabelled object), so it cannot
carry the paper's eleven objects, and its per-object rates are Wang et al.'s, not Table 1's. The paper's
classifiers see only embeddings (§4.1), so embeddings are what the stand-in has to imitate.

What it keeps of the paper's data:

- the eleven objects and exactly Table 1's man-ratios: object o is in n_o images, of which round(b_o · n_o) are
  men (the rest women), so the training biases track Table 1's up to rounding and the 85/15 split;
- the frequencies: teddy bear is in 2.7% of the images (§4.3); the paper gives no other frequency, so the five
  objects with bias ≥ 0.7 share one frequency and the five near-balanced ones another, solved so that the overall
  man share Σ_o f_o b_o is Table 1's 68.70% (``DEFAULT_SHARES``); n_o = f_o · N by largest remainders;
- the mechanism of amplification: an embedding is its object's prototype plus a weak gender direction plus
  noise, e = P_o + (s/2)·(+1 man, −1 woman)·u + ε, with P_o of norm ``object_signal``, u a unit vector and
  ε ~ N(0, I_D), so the object is easy to see and the gender is not (its Bayes accuracy given the object is
  Φ(s/2) at equal priors): a classifier falls back on the object's gender prior, which is what amplifies.

What it cannot keep: one object per image (COCO images may hold several of the eleven), and a single Gaussian
cluster per (object, gender) instead of a ResNet's embedding of real photographs. Every draw is seeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...specs import TaskSpec, check, check_range, register_task
from .embeddings import check_objects_field, check_split_fields, embedding_task
from .labels import OBJECTS, TABLE1, TABLE1_OVERALL, TEDDY_BEAR_SHARE

__all__ = ["ChoiStandIn", "DEFAULT_SHARES", "object_counts"]

HEAVY = 0.7  # Table 1's objects at or above this man-ratio are the "heavily biased" half (§4.1)


def _default_shares() -> dict[str, float]:
    """Frequencies f_o (module docstring): teddy bear 2.7%, one share for the heavy objects and one for the rest,
    with Σ f_o = 1 and Σ f_o b_o = 0.687."""
    heavy = [o for o in OBJECTS if TABLE1[o] >= HEAVY]
    light = [o for o in OBJECTS if TABLE1[o] < HEAVY and o != "teddy bear"]
    rest = 1 - TEDDY_BEAR_SHARE
    target = TABLE1_OVERALL - TEDDY_BEAR_SHARE * TABLE1["teddy bear"]
    mean_heavy = np.mean([TABLE1[o] for o in heavy])
    mean_light = np.mean([TABLE1[o] for o in light])
    heavy_total = (target - mean_light * rest) / (mean_heavy - mean_light)  # solves the two equations
    shares = {o: heavy_total / len(heavy) for o in heavy}
    shares.update({o: (rest - heavy_total) / len(light) for o in light})
    shares["teddy bear"] = TEDDY_BEAR_SHARE
    return {o: float(shares[o]) for o in OBJECTS}


DEFAULT_SHARES = _default_shares()


def object_counts(shares, n: int) -> np.ndarray:
    """Images per object: the shares (renormalised to sum 1) times n, rounded by largest remainders (sum n)."""
    shares = np.asarray(shares, dtype=float) / np.sum(shares)
    raw = shares * n
    counts = np.floor(raw).astype(int)
    counts[np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]] += 1
    return counts


@register_task("choi_standin")
@dataclass(frozen=True)
class ChoiStandIn(TaskSpec):
    """Synthetic embeddings of ``n_images`` images of the ``objects`` (module docstring); ``man_ratios`` and
    ``shares`` default (empty) to Table 1's ratios and ``DEFAULT_SHARES`` of those objects."""

    objects: tuple[str, ...] = OBJECTS
    man_ratios: tuple[float, ...] = ()
    shares: tuple[float, ...] = ()
    n_images: int = 9885  # §4.1
    dim: int = 32
    object_signal: float = 4.0
    gender_signal: float = 1.5
    test_share: float = 0.15  # §4.1
    validation_share: float = 0.15
    seed: int = 0

    def validate(self):
        check_objects_field(self.objects)
        for name in ("man_ratios", "shares"):
            values = getattr(self, name)
            check(
                len(values) in (0, len(self.objects)),
                f"{name} must be empty (Table 1's) or hold one value per object, got {len(values)}",
            )
            for value in values:
                check_range(name, value, 0, 1)
        check_range("n_images", self.n_images, 20, 1_000_000, integer=True)
        check_range("dim", self.dim, 2, 4096, integer=True)
        check_range("object_signal", self.object_signal, 0, 100)
        check_range("gender_signal", self.gender_signal, 0, 100)
        check_split_fields(self)

    @property
    def ratios(self) -> np.ndarray:
        return np.asarray(self.man_ratios or [TABLE1[o] for o in self.objects], dtype=float)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(embeddings (N, D), objects (N, K) 0/1, man (N,) 0/1), before the split."""
        rng = np.random.default_rng(self.seed)
        counts = object_counts(self.shares or [DEFAULT_SHARES[o] for o in self.objects], self.n_images)
        obj = np.repeat(np.arange(len(self.objects)), counts)
        man = np.concatenate([np.arange(n) < round(b * n) for n, b in zip(counts, self.ratios, strict=True)])
        prototypes = rng.standard_normal((len(self.objects), self.dim))
        prototypes *= self.object_signal / np.linalg.norm(prototypes, axis=1, keepdims=True)
        direction = rng.standard_normal(self.dim)
        direction /= np.linalg.norm(direction)
        sign = np.where(man, 1.0, -1.0)[:, None]
        noise = rng.standard_normal((self.n_images, self.dim))
        embeddings = prototypes[obj] + self.gender_signal / 2 * sign * direction + noise
        order = rng.permutation(self.n_images)
        objects = np.eye(len(self.objects), dtype=np.int64)[obj]
        return embeddings[order], objects[order], man[order].astype(np.int64)

    def build(self, data_root=None):
        embeddings, objects, man = self.arrays()
        info = {"task_spec": self, "data_root": data_root}
        return embedding_task(
            "choi-standin",
            embeddings,
            objects,
            man,
            self.objects,
            self.seed,
            self.test_share,
            self.validation_share,
            info,
        )
