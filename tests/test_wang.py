"""Part II (Wang et al. 2019): the multi-label stand-in (exact rates), its evaluator and method, the leakage
attacker (§3) and chapter W-F4's parameters and claims."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from reprolib.chapters import get_chapter
from reprolib.models import MLP
from reprolib.papers.wang.leakage import balanced_indices, dataset_leakage, train_attacker
from reprolib.papers.wang.standin import PERSON_LEVEL, CocoStandIn, MultiLabelBCE, multilabel_metrics
from reprolib.params import ParameterError
from reprolib.specs import SpecError
from reprolib.store import ResultsStore
from reprolib.sweep import RunSpec, run_sweep
from reprolib.training import Recipe
from reprolib.verdicts import NOT_RUN

SPEC = CocoStandIn(n_train=120, n_validation=60, n_test=80, group_rate=0.4, seed=3)


@pytest.fixture(scope="module")
def task():
    return SPEC.build(None)


@pytest.mark.parametrize("name", ["train", "validation", "test"])
def test_the_stand_in_has_the_exact_rates_of_its_spec(task, name):
    split, hidden = task.split(name), task.info["hidden_object"][name]
    n = len(split)
    assert split.labels.shape == (n, 5) and split.labels.dtype == torch.int64
    assert split.images.shape == (n, 1, 24, 24) and split.images.dtype == torch.uint8
    assert int(split.groups.sum()) == round(0.4 * n)
    for g in (0, 1):
        members = split.groups == g
        n_g = int(members.sum())
        rates = SPEC.rates_g1 if g else SPEC.rates_g0
        assert split.labels[members].sum(0).tolist() == [round(r * n_g) for r in rates]
        assert int(hidden[members].sum()) == round(SPEC.hidden_rates[g] * n_g)


def test_the_person_box_holds_a_square_whose_brightness_reveals_the_group(task):
    boxes, split = task.info["person_boxes"]["test"], task.test
    assert ((boxes[:, 2] - boxes[:, 0]) == 8).all() and ((boxes[:, 3] - boxes[:, 1]) == 8).all()
    levels = torch.stack([split.images[i, 0, y0:y1, x0:x1].float().mean() for i, (x0, y0, x1, y1) in enumerate(boxes)])
    threshold = sum(PERSON_LEVEL) / 2
    assert ((levels > threshold).long() == split.groups).all()


def test_the_control_has_no_unlabelled_object_and_building_is_seeded(task):
    control = dataclasses.replace(SPEC, hidden=False).build(None)
    assert not any(bool(h.any()) for h in control.info["hidden_object"].values())
    assert torch.equal(SPEC.build(None).train.images, task.train.images)
    assert not torch.equal(dataclasses.replace(SPEC, seed=4).build(None).train.images, task.train.images)


@pytest.mark.parametrize(
    "changes",
    [{"rates_g0": (1.5, 0.1, 0.2, 0.3, 0.1)}, {"rates_g1": (0.1,)}, {"hidden_rates": (0.2,)}, {"group_rate": 1.0}],
)
def test_bad_stand_in_fields_stop_with_one_line(changes):
    with pytest.raises(SpecError) as error:
        dataclasses.replace(SPEC, **changes)
    assert "\n" not in str(error.value) and next(iter(changes)).split("_")[0] in str(error.value)


def test_the_multilabel_evaluator_scores_logits(task):
    labels = task.test.labels.float()
    perfect = multilabel_metrics(task, "test", labels * 4 - 2)
    assert perfect == {"mAP": pytest.approx(1.0), "F1": pytest.approx(1.0)}
    assert multilabel_metrics(task, "test", -labels * 4 + 2)["F1"] == pytest.approx(0.0)


def test_a_multilabel_run_trains_and_keeps_its_logits(tmp_path):
    spec = RunSpec(
        dataclasses.replace(SPEC, n_train=64, n_validation=16, n_test=16),
        MLP(hidden=8, depth=1),
        Recipe(epochs=1, batch_size=32, lr=0.05),
        seed=0,
        method=MultiLabelBCE(),
        evaluate_on=("validation", "test"),
        keep_outputs=True,
    )
    store = ResultsStore(tmp_path)
    run_sweep([spec], store, progress=False)
    record, outputs = store.get(spec.key), store.get_outputs(spec.key)
    assert {"mAP", "F1"} <= set(record["metrics"]) and outputs["test"].shape == (16, 5)
    task = spec.task.build(None)
    assert record["metrics"]["F1"] == pytest.approx(
        multilabel_metrics(task, "test", torch.as_tensor(outputs["test"]))["F1"]
    )


def _toy(n, seed, informative=True):
    """Label 0 is g itself (or independent of it), labels 1–3 sparse noise; g balanced."""
    rng = np.random.default_rng(seed)
    g = np.arange(n) % 2
    first = g if informative else rng.integers(0, 2, n)
    labels = np.column_stack([first, *(rng.random((3, n)) < 0.15)]).astype(np.int64)
    return labels, g


@pytest.mark.parametrize("informative", [True, False])
def test_the_attacker_learns_a_separable_problem_and_not_an_independent_one(informative):
    (x, g), (dx, dg), (tx, tg) = (_toy(n, s, informative) for n, s in ((400, 0), (100, 1), (400, 2)))
    result = train_attacker(x, g, dx, dg, seed=0, epochs=15, lr=1e-3)
    with torch.no_grad():
        test = float((result.model(torch.as_tensor(tx, dtype=torch.float32)).argmax(1).numpy() == tg).mean())
    assert test > 0.97 if informative else abs(test - 0.5) < 0.1
    assert 1 <= result.epoch <= 15


def test_leakage_of_perturbed_labels_falls_toward_chance_with_f1():
    splits = {name: _toy(n, s) for name, n, s in (("train", 400, 0), ("validation", 100, 1), ("test", 400, 2))}
    leak = {
        a: np.mean([dataset_leakage(splits, a, seed, epochs=15, lr=1e-3).accuracy for seed in (0, 1)])
        for a in (1.0, 0.7, 0.35)
    }
    # macro-F1 0.35 flips about 45% of the entries (label 0: F1 = 1 − p; the sparse labels fall faster)
    assert leak[1.0] > 0.97 and leak[1.0] > leak[0.7] > leak[0.35] and abs(leak[0.35] - 0.5) < 0.1


def test_balanced_indices_keep_every_row_of_the_smaller_group():
    g = np.array([0] * 7 + [1] * 3)
    keep = balanced_indices(g, seed=0)
    assert (g[keep] == 1).sum() == 3 and (g[keep] == 0).sum() == 3 and set(range(7, 10)) <= set(keep)


@pytest.mark.parametrize("f1", [0, -0.1, 1.5])
def test_a_target_f1_outside_the_unit_interval_stops_with_one_line(f1):
    splits = {name: _toy(20, s) for s, name in enumerate(("train", "validation", "test"))}
    with pytest.raises(ValueError, match=r"^f1 must be a number in \(0, 1\], got") as error:
        dataset_leakage(splits, f1, 0)
    assert "\n" not in str(error.value)
    with pytest.raises(ParameterError, match=r"^f1 must lie in \(0, 1\], got"):
        get_chapter("W-F4").configure("smoke", f1=[0.5, f1])


@pytest.mark.parametrize(("name", "value"), [("epochs", 0), ("batch_size", 1), ("lr", 0.0), ("seed", -1)])
def test_bad_attacker_settings_stop_with_one_line(name, value):
    x, g = _toy(20, 0)
    kwargs = {"seed": 0, name: value}
    with pytest.raises(ValueError, match=rf"^{name} must be") as error:
        train_attacker(x, g, x, g, **kwargs)
    assert "\n" not in str(error.value)


def test_w_f4_claims_on_hand_made_frames():
    chapter = get_chapter("W-F4")
    config = chapter.configure("smoke", f1=[0.4, 0.7, 1.0], runs=4)
    rising = pd.DataFrame(
        [
            {"f1": a, "run": r, "leakage": 0.5 + 0.2 * a + 0.003 * r, "flipped": 0.0}
            for a in config["f1"]
            for r in range(4)
        ]
    )
    claims = chapter.claims(rising, config)
    assert list(claims["verdict"]) == ["reproduced", "reproduced"]
    falling = rising.assign(leakage=0.9 - 0.3 * rising["f1"] + 0.003 * rising["run"])
    assert chapter.claims(falling, config)["verdict"].iloc[0] == "not reproduced"
    assert set(chapter.summary(rising, config)) == {"leak_full", "leak_low", "low_f1", "slope", "r2"}


def test_w_f4_at_the_paper_preset_is_not_run_without_coco():
    chapter = get_chapter("W-F4")
    config = chapter.configure("paper")
    results = chapter.run(config)
    claims = chapter.claims(results, config)
    assert results.empty and set(claims["verdict"]) == {NOT_RUN} and "COCO" in claims["measured"].iloc[0]
    assert chapter.specs(config) == []
