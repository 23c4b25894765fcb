"""LowKey (Cherepanova 2023, thesis chapter 3): the objective of eq. 3.1 on hand-made feature extractors, the signed
ascent, the perceptual distance, Gaussian smoothing, JPEG, the gallery split, the IR backbone, the chapter's
parameters and its claims on hand-made frames."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from reprolib import verdicts as V
from reprolib.chapter import ParameterError
from reprolib.chapters import get_chapter
from reprolib.models import create_model, parse_model
from reprolib.papers.cherepanova import c3
from reprolib.papers.cherepanova.lowkey import (
    LowKeyImages,
    gallery_split,
    gaussian_smoothing,
    gaussian_window,
    jpeg_round_trip,
    lowkey_attack,
    lowkey_objective,
    perceptual_distance,
    to_uint8,
)
from reprolib.specs import SpecError

SIDE = 16


class Linear(torch.nn.Module):
    """A linear feature extractor f(x) = flatten(x) @ W, the hand-made case of eq. 3.1."""

    def __init__(self, weight):
        super().__init__()
        self.weight = torch.as_tensor(weight, dtype=torch.float32)

    def forward(self, x):
        return x.flatten(1) @ self.weight


def _picker():
    """f(x) = (x[0, 0], x[0, 1]): the first two pixels."""
    weight = torch.zeros(SIDE * SIDE, 2)
    weight[0, 0] = weight[1, 1] = 1
    return Linear(weight)


def test_objective_by_hand_on_a_linear_extractor():
    f = _picker()
    x = torch.full((1, 1, SIDE, SIDE), 0.5)
    x_adv = x.clone()
    x_adv[0, 0, 0, 0] = 0.7
    clean = [f(x)]  # (0.5, 0.5), norm √½
    # no smoothing, no penalty: ‖(0.2, 0)‖² / ‖(0.5, 0.5)‖ = 0.04 / 0.70711 = 0.056569
    value = lowkey_objective([f], clean, x, x_adv, alpha=0.0, sigma=0.0, window=None)
    assert value.item() == pytest.approx(0.04 / math.sqrt(0.5), rel=1e-5)
    # two models: the mean over models; the same model twice gives the same value
    assert lowkey_objective([f, f], clean * 2, x, x_adv, 0.0, 0.0, None).item() == pytest.approx(value.item())
    # smoothing: the mean of the x' and G(x') terms
    blurred = gaussian_smoothing(x_adv, 1.0, 3)
    term = ((f(blurred) - clean[0]).pow(2).sum() / clean[0].norm()).item()
    smoothed = lowkey_objective([f], clean, x, x_adv, 0.0, 1.0, 3).item()
    assert smoothed == pytest.approx((value.item() + term) / 2, rel=1e-5)
    # the penalty: minus α times 1 − SSIM(x, x′)
    penalised = lowkey_objective([f], clean, x, x_adv, 0.5, 0.0, None).item()
    assert penalised == pytest.approx(value.item() - 0.5 * perceptual_distance(x, x_adv).item(), rel=1e-5)


@pytest.mark.parametrize("signs", [[1.0], [1.0, -1.0]])
def test_signed_ascent_moves_every_pixel_along_the_feature_direction(signs):
    # One feature, f(x) = Σ w_i x_i with w_i = ±1: the objective (w·(x′ − x))² / |w·x| grows fastest by moving
    # pixel i by sign(w·(x′ − x)) · w_i; after the random start (within one step) every later step keeps that sign,
    # so after t steps every pixel has moved by t·η ± η, all in the direction s·w_i.
    w = torch.tensor(signs).repeat(SIDE * SIDE // len(signs))[:, None]
    images = torch.full((2, 1, SIDE, SIDE), 128, dtype=torch.uint8)
    steps, eta = 10, 0.01
    kept = lowkey_attack([Linear(w)], images, steps, eta, 0.0, 0.0, None, (5, steps), seed=3)
    assert set(kept) == {5, steps} and kept[steps].dtype == torch.uint8
    change = (kept[steps].float() - images.float()) / 255
    direction = torch.sign(change.flatten(1)[:, :1]) * w.T  # s · w_i per image
    assert torch.all(torch.sign(change.flatten(1)) == direction)
    assert change.abs().min() >= (steps - 1) * eta - 0.5 / 255
    assert change.abs().max() <= (steps + 1) * eta + 0.5 / 255  # the ℓ∞ budget of t steps and the start
    middle = (kept[5].float() - images.float()).abs().max() / 255
    assert middle <= 6 * eta + 0.5 / 255
    again = lowkey_attack([Linear(w)], images, steps, eta, 0.0, 0.0, None, (steps,), seed=3)
    assert torch.equal(again[steps], kept[steps])  # seeded


def test_the_perceptual_penalty_keeps_images_closer():
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(SIDE * SIDE, 8, generator=generator)
    images = (torch.rand(4, 1, SIDE, SIDE, generator=generator) * 255).to(torch.uint8)
    x = images.float() / 255

    def distance(alpha):
        out = lowkey_attack([Linear(weight)], images, 20, 0.01, alpha, 0.0, None, (20,), seed=0)[20]
        return perceptual_distance(x, out.float() / 255).mean().item()

    assert distance(1000.0) < distance(0.0)


def test_perceptual_distance_is_zero_for_identical_images_and_grows_with_the_change():
    x = torch.rand(3, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(perceptual_distance(x, x), torch.zeros(3), atol=1e-6)
    small, large = (perceptual_distance(x, (x + e * noise).clamp(0, 1)) for e in (0.02, 0.2))
    assert torch.all(0 < small) and torch.all(small < large) and torch.all(large <= 2)


def test_gaussian_smoothing_kernel_by_hand():
    assert [gaussian_window(s) for s in (0.5, 2.0, 3.0)] == [5, 13, 19]  # 2·⌈3σ⌉ + 1
    delta = torch.zeros(1, 1, 9, 9)
    delta[0, 0, 4, 4] = 1
    out = gaussian_smoothing(delta, 1.0, 3)
    # 1-D weights ∝ (e^{−1/2}, 1, e^{−1/2}): centre 1 / (1 + 2 e^{−1/2}) = 0.451863, squared in 2-D
    centre = 1 / (1 + 2 * math.exp(-0.5))
    assert out[0, 0, 4, 4].item() == pytest.approx(centre**2, rel=1e-5)
    assert out[0, 0, 4, 5].item() == pytest.approx(centre * centre * math.exp(-0.5), rel=1e-5)
    assert out.sum().item() == pytest.approx(1.0, rel=1e-5)  # away from the borders the mass is kept
    assert torch.equal(gaussian_smoothing(delta, 0.0), delta)
    assert gaussian_smoothing(torch.rand(2, 1, 4, 4), 3.0, 19).shape == (2, 1, 4, 4)  # window clipped to the image


def test_jpeg_round_trip():
    flat = torch.full((2, 1, SIDE, SIDE), 77, dtype=torch.uint8)
    assert torch.equal(jpeg_round_trip(flat, 100), flat)  # a flat block is its DC coefficient only: exact
    noisy = (torch.rand(2, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    out = jpeg_round_trip(noisy, 10)
    assert out.shape == noisy.shape and out.dtype == torch.uint8 and not torch.equal(out, noisy)
    error = lambda q: (jpeg_round_trip(noisy, q).float() - noisy.float()).abs().mean()  # noqa: E731
    assert error(95) < error(10)
    with pytest.raises(SpecError, match=r"quality must be an integer in \[1, 100\], got 0"):
        jpeg_round_trip(noisy, 0)
    assert torch.equal(to_uint8(torch.tensor([0.0, 0.5, 1.2])), torch.tensor([0, 128, 255], dtype=torch.uint8))


def test_gallery_split_exact_counts():
    identities = np.repeat(np.arange(10), 6)
    probe, protected = gallery_split(identities, 2, 4, seed=5)
    assert all(probe[identities == i].sum() == 2 for i in range(10))
    users = np.unique(identities[protected])
    assert len(users) == 4 and not (probe & protected).any()
    assert all(protected[(identities == u) & ~probe].all() for u in users)  # every gallery image of a user
    again = gallery_split(identities, 2, 4, seed=5)
    assert np.array_equal(again[0], probe) and np.array_equal(again[1], protected)
    with pytest.raises(SpecError, match="cannot keep 6 probes and a gallery"):
        gallery_split(identities, 6, 4, seed=0)
    with pytest.raises(SpecError, match=r"protected_identities \(11\) must be at most the 10 test identities"):
        gallery_split(identities, 2, 11, seed=0)


def test_the_attack_artifact_rejects_bad_values():
    with pytest.raises(SpecError, match="models must name at least one stored run"):
        LowKeyImages()
    with pytest.raises(SpecError, match="window must be an odd integer"):
        LowKeyImages(models=("k",), window=4)
    with pytest.raises(SpecError, match="^alpha must be a number ≥ 0, got -1$"):
        LowKeyImages(models=("k",), alpha=-1)
    with pytest.raises(SpecError, match="^snapshots must lie in 1 … 3$"):
        LowKeyImages(models=("k",), steps=3, snapshots=(5,))


def test_ir_backbone_runs_are_independent_and_named():
    assert parse_model("face_ir18").depth == 18 and parse_model("face_resnet26").depth == 26
    group = create_model(parse_model("face_ir10").replace(width=4), seeds=[3, 7], in_shape=(1, 16, 16), num_outputs=5)
    alone = create_model(parse_model("face_ir10").replace(width=4), seeds=[7], in_shape=(1, 16, 16), num_outputs=5)
    x = torch.randn(2, 3, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(group.eval()(x)[1], alone.eval()(x[1:2])[0], atol=1e-5)
    with pytest.raises(SpecError, match="depth must be one of 10, 18, 50, 152, got 34"):
        parse_model("face_ir50").replace(depth=34)


# --- the chapter -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"steps": 0}, r"^steps must be an integer in 1 … 10000, got 0$"),
        ({"alpha": -0.1}, r"^alpha must be a number in \[0, 100\], got -0.1$"),
        ({"smoothing_sigma": -1}, r"^smoothing_sigma must be a number in \[0, 20\], got -1$"),
        ({"ensemble": ["IR-99A"]}, r"^ensemble: 'IR-99A' is not a trained model; accepted: IR-10A, IR-10C, "),
        ({"step_counts": [2, 9]}, r"^step_counts must lie in 1 … steps = 4, got \[2, 9\]$"),
        ({"smoothing_window": 4}, r"^smoothing_window must be an odd integer, got 4$"),
        ({"backbones": ["IR-11"]}, r"^backbones must be one of IR-10, IR-18, "),
    ],
)
def test_bad_parameters_stop_before_training_in_one_line(params, message):
    with pytest.raises(ParameterError, match=message):
        get_chapter("C-3-LOWKEY").configure("smoke", **params)


def test_every_victim_keeps_its_weights_and_runs_are_seeded():
    chapter = get_chapter("C-3-LOWKEY")
    config = chapter.configure("smoke", first_run=10)
    specs = chapter.specs(config)
    assert len(specs) == 2 * 2 * 2 and all(s.keep_model for s in specs)
    assert {s.seed for s in specs} == {10, 11} and {s.tags["victim"] for s in specs} == set(chapter.victims(config))
    assert c3.thesis_position(chapter.victims(chapter.configure("course"))) == {
        "IR-10A": "IR-50A", "IR-10C": "IR-50C", "IR-18A": "IR-152A", "IR-18C": "IR-152C",
        "RN-14A": "RN-50A", "RN-14C": "RN-50C", "RN-26A": "RN-152A", "RN-26C": "RN-152C",
    }  # fmt: skip


def test_transfer_gaps_by_hand():
    names = ["IR-10A", "IR-10C", "RN-14A"]
    table = pd.DataFrame(
        [[0.0, 0.2, 0.6], [0.1, 0.0, 0.8], [0.5, 0.7, 0.0]], index=names, columns=names
    )  # attacker × defender
    # IR-10A: cross (RN-14A) 0.5 − same (IR-10C) 0.1 = 0.4; IR-10C: 0.7 − 0.2 = 0.5; RN-14A has no other RN attacker
    assert c3.transfer_gaps(table, c3._family) == pytest.approx({"IR": 0.45})
    # heads: IR-10A (A): cross IR-10C 0.1 − same RN-14A 0.5 = −0.4; RN-14A (A): cross 0.8 − same IR-10A 0.6 = 0.2
    assert c3.transfer_gaps(table, c3._head) == pytest.approx({"A": -0.1})


def _frame(config, protected=0.1, family=0.2, head=0.2, blur_gap=0.5, step_fall=0.1, jpeg=0.0, small=0.2):
    """A hand-made results frame of the smoke configuration with 4 runs: clean 0.9 (rank-k; rank-1 0.3 lower);
    the ensemble ``protected``; a single model's attack 0 on itself, else 0.6 − ``family`` when it shares the
    defender's family − ``head`` when it shares its head; blurred, the attack without smoothing ``blur_gap`` above
    the one with it; the ensemble falling by ``step_fall`` per step count; JPEG ``jpeg`` above PNG; LowKey small
    ``small`` above, at half the distance. Each run adds its own offset (0, 0.01, 0.02, 0.005)."""
    victims = get_chapter("C-3-LOWKEY").victims(config)
    final, counts = config["steps"], config["step_counts"]
    rows = []

    def add(run, offset, defender, attack, value, steps=final, jpeg_=0, defence="none", distance=0.1):
        rows.append(
            {"run": run, "attack": attack, "steps": steps, "jpeg": jpeg_, "defence": defence, "defender": defender,
             "rank1": value - 0.3 + offset, "wide": value + offset, "distance": distance + offset / 10, "linf": 0.1}
        )  # fmt: skip

    for run, offset in enumerate((0.0, 0.01, 0.02, 0.005)):
        for d in victims:
            add(run, offset, d, c3.CLEAN, 0.9, steps=0)
            add(run, offset, d, c3.CLEAN, 0.85, steps=0, defence="blur")
            for a in victims:
                shared = family * (c3._family(a) == c3._family(d)) + head * (c3._head(a) == c3._head(d))
                add(run, offset, d, a, 0.0 if a == d else 0.6 - shared)
            for i, t in enumerate(counts):
                add(run, offset, d, c3.ENSEMBLE, protected + step_fall * (len(counts) - 1 - i), steps=t)
            add(run, offset, d, c3.ENSEMBLE, protected + jpeg, jpeg_=config["jpeg_quality"])
            add(run, offset, d, c3.ENSEMBLE, protected + 0.1, defence="blur")
            add(run, offset, d, c3.NO_GS, protected + 0.05)
            add(run, offset, d, c3.NO_GS, protected + 0.1 + blur_gap, defence="blur")
            add(run, offset, d, c3.SMALL, protected + small, distance=0.05)
    return pd.DataFrame(rows)


def test_claims_on_hand_made_frames():
    chapter = get_chapter("C-3-LOWKEY")
    config = chapter.configure("smoke")
    verdicts = chapter.claims(_frame(config), config)["verdict"].tolist()
    assert verdicts[:7] == [V.REPRODUCED] * 7
    assert verdicts[7:] == [V.NOT_RUN] * 2
    # the opposite effects: the ensemble raises accuracy, cross-family and cross-head attacks transfer better,
    # smoothing hurts under blur, JPEG moves accuracy by 0.2, LowKey small protects more
    flipped = _frame(config, protected=0.95, family=-0.2, head=-0.2, blur_gap=-0.05, jpeg=0.2, small=-0.05)
    verdicts = chapter.claims(flipped, config)["verdict"].tolist()
    assert verdicts[0] == verdicts[1] == verdicts[2] == verdicts[3] == V.NOT_REPRODUCED
    assert verdicts[5] == V.NOT_REPRODUCED and verdicts[6] == V.NOT_REPRODUCED
    # more steps make accuracy rise: the monotone fall is not reproduced
    assert chapter.claims(_frame(config, step_fall=-0.1), config)["verdict"][4] == V.NOT_REPRODUCED
    empty = chapter.claims(pd.DataFrame(columns=c3.EVAL_COLUMNS), config)["verdict"]
    assert set(empty) == {V.NOT_RUN}


def test_attacks_are_crafted_once_and_read_back(store_dir, monkeypatch):
    from reprolib.papers.cherepanova import lowkey

    chapter = get_chapter("C-3-LOWKEY")
    config = chapter.configure("smoke")
    first = chapter.run(config, progress=False)
    crafted = sorted((store_dir / "artifacts").glob("*.outputs.npz"))
    assert len(crafted) == 2 * (4 + 3)  # per run: each of the 4 victims alone, the ensemble, without GS, small
    assert len(first) == 2 * 4 * (2 + 4 + 2 + 2 + 2 + 1)  # runs × defenders × variants (clean ×2, singles, …)

    def never(*args, **kwargs):
        raise AssertionError("an attack was crafted twice")

    monkeypatch.setattr(lowkey, "lowkey_attack", never)
    pd.testing.assert_frame_equal(chapter.run(config, progress=False), first)
    assert sorted((store_dir / "artifacts").glob("*.outputs.npz")) == crafted
