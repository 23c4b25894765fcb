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


def test_w_f4_has_results_once_an_attacker_is_stored_and_says_how_many_are_missing(tmp_path):
    from reprolib.artifacts import load_artifact

    chapter, store = get_chapter("W-F4"), ResultsStore(tmp_path)
    config = chapter.configure("smoke")  # 3 F1 values × 2 seeds
    assert not chapter.has_results(config, store)
    message = chapter.missing_message(config, store)
    assert message.startswith("results missing: 6 of 6 attackers of W-F4 at preset smoke")
    load_artifact(chapter.attackers(config)[0], store=store)
    assert chapter.has_results(config, store)
    assert "`reprolib run W-F4 --preset smoke`" in chapter.missing_message(config, store)
    assert chapter.missing_message(config, store).startswith("results missing: 5 of 6 attackers")


def test_w_f4_at_the_paper_preset_is_not_run_without_coco():
    chapter = get_chapter("W-F4")
    config = chapter.configure("paper")
    results = chapter.run(config)
    claims = chapter.claims(results, config)
    assert results.empty and set(claims["verdict"]) == {NOT_RUN} and "COCO" in claims["measured"].iloc[0]
    assert chapter.specs(config) == []


# --- stored attackers, α-balanced splits, the joint-gender method, W-T1 and W-T2 ---------------------------------


def test_a_dataset_leakage_attacker_is_computed_once_and_then_read(tmp_path, monkeypatch):
    from reprolib.artifacts import artifact_store, load_artifact
    from reprolib.papers.wang import attackers

    spec = attackers.DatasetLeakage(task=SPEC, f1=1.0, seed=0, epochs=2, lr=1e-3)
    store = ResultsStore(tmp_path)
    first = load_artifact(spec, store)
    assert set(first) == {"accuracy", "flipped", "n_groups"} and first["flipped"] == 0.0
    assert first["n_groups"].tolist() == [120 - round(0.4 * 120), round(0.4 * 120)]  # g = 0, g = 1 of the train split
    monkeypatch.setattr(attackers, "dataset_leakage", lambda *a, **k: pytest.fail("trained twice"))
    assert load_artifact(spec, store)["accuracy"] == first["accuracy"]
    assert len(list(artifact_store(store).root.glob("*.json"))) == 1


def _multilabel_run(gender=False, epochs=1):
    return RunSpec(
        dataclasses.replace(SPEC, n_train=64, n_validation=30, n_test=30),
        MLP(hidden=8, depth=1),
        Recipe(epochs=epochs, batch_size=32, lr=0.05),
        seed=0,
        method=MultiLabelBCE(gender=gender),
        evaluate_on=("train", "validation", "test"),
        keep_outputs=True,
    )


def test_a_model_leakage_attacker_reads_the_stored_logits_of_its_run(tmp_path):
    from reprolib.artifacts import load_artifact
    from reprolib.papers.wang.attackers import ModelLeakage
    from reprolib.store import using_store

    store = ResultsStore(tmp_path)
    run = _multilabel_run()
    run_sweep([run], store, progress=False)
    with using_store(store):  # the attacker reads the run's record and logits from the current store
        for source in ("train", "heldout"):
            arrays = load_artifact(ModelLeakage(run=run.key, source=source, epochs=2, lr=1e-3))
            assert 0 <= float(arrays["accuracy"]) <= 1 and 1 <= int(arrays["epoch"]) <= 2
        with pytest.raises(ValueError, match="is not a finished run"):
            load_artifact(ModelLeakage(run="no-such-run", epochs=2))
    assert ModelLeakage(run=run.key).to_dict()["run"] == run.key  # the run's key is part of its configuration
    with pytest.raises(SpecError, match="^source must be one of train, heldout"):
        ModelLeakage(run=run.key, source="test")


def test_a_run_predicting_gender_jointly_keeps_one_more_logit_and_reports_its_accuracy(tmp_path):
    store = ResultsStore(tmp_path)
    run = _multilabel_run(gender=True)
    run_sweep([run], store, progress=False)
    record, outputs = store.get(run.key), store.get_outputs(run.key)
    assert outputs["test"].shape == (30, 6) and 0 <= record["metrics"]["gender_accuracy"] <= 1


def test_the_evaluator_scores_a_joint_gender_column_separately(task):
    labels, groups = task.test.labels.float(), task.test.groups.float()
    outputs = torch.cat([labels * 4 - 2, (1 - groups[:, None]) * 4 - 2], 1)  # labels right, gender always wrong
    assert multilabel_metrics(task, "test", outputs) == {"mAP": 1.0, "F1": 1.0, "gender_accuracy": 0.0}


def test_balanced_indices_take_a_fraction_of_each_group():
    g = np.array([0] * 40 + [1] * 10)
    keep = balanced_indices(g, seed=0, fraction=0.5)
    assert (g[keep] == 0).sum() == 5 and (g[keep] == 1).sum() == 5
    with pytest.raises(ValueError, match=r"^fraction must lie in \(0, 1\]"):
        balanced_indices(g, seed=0, fraction=0)


def test_a_one_layer_attacker_is_a_single_linear_layer():
    from torch import nn

    from reprolib.papers.wang.leakage import Attacker

    layers = list(Attacker(5, hidden=300, depth=1).net)
    assert len(layers) == 1 and isinstance(layers[0], nn.Linear) and layers[0].weight.shape == (2, 5)
    deep = [m for m in Attacker(5, hidden=7, depth=4).net if isinstance(m, nn.Linear)]
    assert [tuple(m.weight.shape) for m in deep] == [(7, 5), (7, 7), (7, 7), (2, 7)]


@pytest.mark.parametrize("removal", ["fewest_objects", "random"])
def test_the_alpha_balanced_task_keeps_dev_and_test_and_satisfies_eq_2(task, removal):
    from reprolib.papers.wang.splits import AlphaBalanced

    balanced = AlphaBalanced(base=SPEC, alpha=1.5, removal=removal).build(None)
    assert torch.equal(balanced.test.images, task.test.images) and torch.equal(
        balanced.validation.labels, task.validation.labels
    )
    labels, groups = balanced.train.labels, balanced.train.groups
    men, women = labels[groups == 1].sum(0).double(), labels[groups == 0].sum(0).double()
    assert ((men <= 1.5 * women) & (women <= 1.5 * men)).all()
    kept = balanced.info["kept"]
    assert torch.equal(balanced.train.images, task.train.images[kept])
    assert torch.equal(balanced.info["person_boxes"]["train"], task.info["person_boxes"]["train"][kept])
    assert balanced.info["achieved_alpha"] <= 1.5


def test_random_removal_differs_from_the_heuristic_which_removes_images_with_fewer_objects_first():
    from reprolib.multilabel import alpha_balance

    # label 0 is over-represented in group 1: images 0 (one object) and 1 (two objects) of group 1 hold it
    labels = np.array([[1, 0], [1, 1], [1, 0], [0, 1], [0, 1]])
    groups = np.array([1, 1, 0, 0, 1])
    heuristic = alpha_balance(labels, groups, 1.0, seed=0)
    assert 0 not in heuristic.indices and 1 in heuristic.indices  # the one-object image goes first
    removed = {
        tuple(sorted(set(range(5)) - set(alpha_balance(labels, groups, 1.0, seed=s, removal="random").indices)))
        for s in range(20)
    }
    assert len(removed) > 1  # the random order removes different images for different seeds
    with pytest.raises(ValueError, match="^removal must be one of fewest_objects, random"):
        alpha_balance(labels, groups, 1.0, seed=0, removal="largest")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("alphas", [2.0, 0.5], r"^alphas must lie in \[1, 100\], got 0.5"),
        ("removals", ["largest"], r"^removals must be one of fewest_objects, random"),
        ("sources", ["test"], r"^sources must be one of train, heldout"),
    ],
)
def test_bad_w_t1_parameters_stop_with_one_line_before_training(name, value, message):
    with pytest.raises(ParameterError, match=message) as error:
        get_chapter("W-T1").configure("smoke", **{name: value})
    assert "\n" not in str(error.value)


def test_w_t2_needs_the_reference_attacker():
    with pytest.raises(ParameterError, match="^variants must include the reference attacker '4x300'"):
        get_chapter("W-T2").configure("smoke", variants=["1-layer", "2x100"])
    with pytest.raises(ParameterError, match="^variants must be one of"):
        get_chapter("W-T2").configure("smoke", variants=["4x300", "8x300"])


def _t1_frame(delta_shift=0.0, lower=True, runs=4, attackers=3):
    """A hand-made W-T1 result: Δ = 0.10 everywhere (+ ``delta_shift`` at every α), λ_D 0.68 without balancing
    and 0.68 − 0.05/α with it (or + with ``lower=False``), the balanced control's Δ at 0.02."""
    rows = []
    splits = [
        ("original", np.nan, "", True),
        ("no gender", np.nan, "", True),
        ("α=2", 2.0, "fewest_objects", True),
        ("α=1", 1.0, "fewest_objects", True),
        ("control, no gender", np.nan, "", False),
        ("control, α=1", 1.0, "fewest_objects", False),
    ]
    for split, alpha, removal, hidden in splits:
        for run in range(runs):
            for a in range(attackers):
                noise = 0.002 * ((run * 7 + a * 3) % 5 - 2)
                balanced = not np.isnan(alpha)
                lam_d = 0.68 + (0.05 / alpha * (-1 if lower else 1) if balanced else 0) + 0.001 * a
                delta = 0.02 if split.startswith("control, α") else 0.10 + (delta_shift if balanced else 0)
                rows.append(
                    {
                        "split": split,
                        "alpha": alpha,
                        "removal": removal,
                        "hidden": hidden,
                        "run": run,
                        "attacker": a,
                        "source": "train",
                        "n_men": 70,
                        "n_women": 30,
                        "lambda_D": lam_d,
                        "lambda_M": 0.6 + delta + noise,
                        "lambda_D_F1": 0.6 + noise,
                        "delta": delta + noise,
                        "mAP": 0.9,
                        "F1": 0.9,
                    }
                )
    return pd.DataFrame(rows)


def test_w_t1_claims_on_hand_made_frames():
    chapter = get_chapter("W-T1")
    config = chapter.configure("smoke", alphas=[2.0, 1.0], sources=["train"], removals=["fewest_objects"])
    claims = chapter.claims(_t1_frame(), config)
    assert list(claims["verdict"]) == ["reproduced", "reproduced", "reproduced", "reproduced"]
    moved = chapter.claims(_t1_frame(delta_shift=-0.05, lower=False), config)
    assert list(moved["verdict"][1:3]) == ["not reproduced", "not reproduced"]
    assert "α = 1" in claims["claim"].iloc[3]
    table = chapter.table(_t1_frame(), config)
    assert list(table["split"][:2]) == ["original", "no gender"] and table["Δ"].iloc[1] == "10.0 ± 0.2"
    assert table["paper (COCO): λ_D / λ_M / Δ / F1"].iloc[1] == "67.72 / 70.46 / 9.93 / 53.75"


def test_w_t1_says_which_open_choice_changes_which_verdict():
    from reprolib.papers.wang.t1 import choice_effects

    chapter = get_chapter("W-T1")
    config = chapter.configure("smoke", alphas=[2.0, 1.0], sources=["train", "heldout"], removals=["fewest_objects"])
    same = pd.concat([_t1_frame(), _t1_frame().assign(source="heldout")])
    assert chapter.summary(same, config)["open_choices"] == "The logits source changes no verdict."
    moved = pd.concat([_t1_frame(), _t1_frame(delta_shift=-0.05).assign(source="heldout")])  # Δ(α) 5 points lower
    assert chapter.summary(moved, config)["open_choices"] == (
        "The logits source changes “α-balancing leaves Δ nearly unchanged” (with fewest_objects removal) — "
        "train logits: reproduced; heldout logits: not reproduced."
    )
    one = chapter.configure("smoke", alphas=[2.0, 1.0])
    assert choice_effects(chapter.claim_rows(_t1_frame(), one), one).startswith("This configuration runs one value")


def test_w_t2_claims_on_hand_made_frames():
    chapter = get_chapter("W-T2")
    config = chapter.configure("smoke")
    offsets = {
        "1-layer": -0.03,
        "2x100": 0.005,
        "2x300": 0.0,
        "4x300": 0.0,
        "4x300@75%": -0.004,
        "4x300@50%": 0.002,
        "4x300@25%": -0.006,
    }
    rows = [
        {"variant": v, "run": r, "attacker": a, "lambda_M": 0.7 + o + 0.002 * ((r + a) % 3)}
        for v, o in offsets.items()
        for r in range(4)
        for a in range(2)
    ]
    claims = chapter.claims(pd.DataFrame(rows), config)
    assert list(claims["verdict"]) == ["reproduced", "reproduced"]
    rows = [{**row, "lambda_M": row["lambda_M"] + (0.05 if row["variant"] == "4x300@25%" else 0)} for row in rows]
    assert chapter.claims(pd.DataFrame(rows), config)["verdict"].iloc[0] == "not reproduced"


PAPER_CHAPTERS = ["W-T1", "W-T2", "W-T45", "W-F67", "W-T3"]


def _base(task):
    return _base(task.base) if hasattr(task, "base") else task


@pytest.mark.parametrize("chapter_id", PAPER_CHAPTERS)
def test_the_paper_preset_trains_resnet50_on_coco(chapter_id):
    chapter = get_chapter(chapter_id)
    config = chapter.configure("paper")
    specs = chapter.specs(config)
    assert specs and {_base(s.task).name for s in specs} == {"wang_coco"}
    assert {s.model.name for s in specs} == {"resnet50_imagenet"}
    assert {s.recipe.batch_size for s in specs} == {32}  # §4.1
    claims = chapter.claims(chapter.results(config, ResultsStore("/nonexistent-store"), specs), config)
    assert set(claims["verdict"]) == {NOT_RUN} and "COCO 2014" in claims["measured"].iloc[0]


@pytest.mark.parametrize("chapter_id", PAPER_CHAPTERS)
def test_a_data_folder_for_another_dataset_stops_before_training(tmp_path, chapter_id):
    with pytest.raises(ParameterError, match="^coco_root is read only with dataset=coco .*uses standin\\)$"):
        get_chapter(chapter_id).configure("smoke", coco_root=str(tmp_path))


def test_w_t45_at_the_paper_preset_reads_imsitu_for_table_5_without_person_masks():
    chapter = get_chapter("W-T45")
    specs = chapter.specs(chapter.configure("paper", dataset="imsitu"))
    assert {_base(s.task).name for s in specs} == {"wang_imsitu"}
    assert not {"blackout", "blur"} & {s.tags["method"] for s in specs}  # no person boxes in imSitu's files
    assert {"adv@image", "adv@conv4", "adv@conv5", "α=1"} <= {s.tags["method"] for s in specs}


@pytest.mark.parametrize(
    ("chapter_id", "params", "message"),
    [
        ("W-T1", {}, "^COCO 2014 is not in {root}: .*cocodataset.org/#download\\)$"),
        ("W-T45", {"dataset": "imsitu"}, "^imSitu is not in {root}: .*github.com/my89/imSitu\\)$"),
    ],
)
def test_the_paper_preset_stops_before_training_without_its_data(tmp_path, chapter_id, params, message):
    from reprolib.sources import SourceUnavailable

    chapter = get_chapter(chapter_id)
    root = tmp_path / "data"
    root.mkdir()
    folder = "imsitu_root" if params else "coco_root"
    config = chapter.configure("paper", **params, **{folder: str(root)})
    store = ResultsStore(tmp_path / "store")
    with pytest.raises(SourceUnavailable, match=message.format(root=root)) as error:
        chapter.run(config, store=store, progress=False)
    assert "\n" not in str(error.value) and list(store.records()) == []


# --- ResNet-50 (§5.3), K runs at once, ImageNet weights from the torch hub cache --------------------------------


def test_resnet50_trains_k_runs_each_the_one_run_model_of_its_seed():
    from reprolib.models import create_model, parse_model

    spec = parse_model("resnet50_imagenet").replace(width=8)
    two, one = create_model(spec, [3, 7], (3, 32, 32), 5).eval(), create_model(spec, [7], (3, 32, 32), 5).eval()
    x = torch.rand(1, 4, 3, 32, 32)
    with torch.no_grad():
        out = two(x.expand(2, -1, -1, -1, -1))
        assert out.shape == (2, 4, 5)
        assert torch.allclose(out[1], one(x)[0], atol=1e-5) and not torch.allclose(out[0], out[1])
    assert "seeded initialisation" in two.weights_note  # width 8: no ImageNet weights


def test_resnet50_has_torchvisions_layout_and_copies_one_run_into_every_run():
    from torchvision.models import resnet50

    from reprolib.papers.wang.resnet50 import MultiBottleneckResNet, copy_into_runs

    with torch.device("meta"):
        theirs, ours = resnet50().state_dict(), MultiBottleneckResNet(1, 3, 10).state_dict()
    assert [tuple(v.shape) for k, v in theirs.items() if not k.startswith("fc.")] == [
        tuple(v.shape) for k, v in ours.items() if not k.startswith("head.")
    ]
    source = MultiBottleneckResNet(1, 3, 5, width=8).eval()
    state = {k: v for k, v in source.state_dict().items() if not k.startswith("head.")}
    target = MultiBottleneckResNet(3, 3, 5, width=8).eval()
    copy_into_runs(target, {**state, "fc.weight": torch.zeros(5, 256)})
    x = torch.rand(1, 2, 3, 32, 32)
    with torch.no_grad():
        features = target.features(x.expand(3, -1, -1, -1, -1))
        assert all(torch.allclose(features[k], source.features(x)[0], atol=1e-5) for k in range(3))
    with pytest.raises(ValueError, match="does not fit"):
        copy_into_runs(MultiBottleneckResNet(2, 1, 5, width=8), state)  # grey images: the stem does not fit


def test_adversarial_removal_and_noise_train_on_resnet50_and_the_record_says_which_weights(tmp_path):
    from reprolib.papers.wang.methods import Adversarial, Randomization
    from reprolib.papers.wang.resnet50 import ImageNetResNet50

    store = ResultsStore(tmp_path)
    methods = [Adversarial(layer="conv4"), Adversarial(layer="conv5"), Randomization(sigma=1.0)]
    specs = _method_run(methods, seeds=(0,), model=ImageNetResNet50(width=8))
    run_sweep(specs, store, progress=False)
    for spec in specs:
        record = store.get(spec.key)
        assert record["status"] == "done" and store.get_outputs(spec.key)["test/logits"].shape == (30, 5)
        assert record["environment"]["weights"] == (
            "no ImageNet weights for width 8 on 1-channel images: seeded initialisation"
        )


def test_resnet50_without_weights_in_the_hub_cache_says_so_and_downloads_nothing(tmp_path, monkeypatch):
    from reprolib.models import create_model
    from reprolib.papers.wang.resnet50 import ImageNetResNet50

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    model = create_model(ImageNetResNet50(), [0], (3, 32, 32), 2)
    assert model.weights_note == (
        f"no ImageNet weights in {tmp_path / 'hub' / 'checkpoints'} (nothing is downloaded): seeded initialisation"
    )
    assert not (tmp_path / "hub").exists()
    assert create_model(ImageNetResNet50(imagenet=False), [0], (3, 32, 32), 2).weights_note == ""


# --- methods of §5: gradient reversal, the balanced critic loss, masks, noise; W-T45 and W-F67 --------------------


def test_the_critic_loss_weighs_both_groups_equally():
    from reprolib.papers.wang.methods import balanced_cross_entropy

    logits = torch.zeros(1, 4, 2)  # every image: P(g) = ½, cross-entropy ln 2
    logits[0, 0] = torch.tensor([0.0, float(np.log(3))])  # image 0 (g = 1): P(g = 1) = ¾, CE = ln 4/3
    groups = torch.tensor([[1, 0, 0, 0]])
    expected = 0.5 * np.log(4 / 3) + 0.5 * np.log(2)  # men: one image; women: three, each ln 2
    assert float(balanced_cross_entropy(logits, groups)[0]) == pytest.approx(expected)


@pytest.mark.parametrize("mode", ["blackout", "blur"])
def test_person_masking_changes_only_the_person_box(task, mode):
    from reprolib.papers.wang.splits import PersonMasked

    masked = PersonMasked(base=SPEC, mode=mode).build(None)
    boxes = task.info["person_boxes"]["test"]
    inside = torch.zeros_like(task.test.images, dtype=torch.bool)
    for i, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
        inside[i, :, y0:y1, x0:x1] = True
    assert torch.equal(masked.test.images[~inside], task.test.images[~inside])
    if mode == "blackout":
        assert (masked.test.images[inside] == 0).all()
    else:  # a blur keeps the square's mean brightness (within the blur's spill over its edge), so g stays visible
        changed = (masked.test.images[inside] != task.test.images[inside]).float().mean()
        assert changed > 0.3
    assert torch.equal(masked.train.labels, task.train.labels)


def _method_run(method, seeds=(0, 1), model=None, precision="auto"):
    from reprolib.models import ResNetCifar

    small = dataclasses.replace(SPEC, n_train=64, n_validation=30, n_test=30)
    return [
        RunSpec(
            small,
            model or ResNetCifar(depth=8, width=4),
            Recipe(epochs=2, batch_size=32, optimizer="adam", lr=1e-3, precision=precision),
            seed=s,
            method=m,
            evaluate_on=("train", "validation", "test"),
            keep_outputs=True,
        )
        for s in seeds
        for m in (method if isinstance(method, list) else [method])
    ]


@pytest.mark.parametrize("layer", ["image", "conv4", "conv5"])
def test_adversarial_removal_trains_runs_of_different_lambda_together(tmp_path, layer):
    from reprolib.papers.wang.methods import Adversarial

    store = ResultsStore(tmp_path)
    specs = _method_run([Adversarial(layer=layer, lam=lam, warmup=0.5) for lam in (0.5, 2.0)], seeds=(0,))
    run_sweep(specs, store, progress=False)
    records = [store.get(s.key) for s in specs]
    assert [r["status"] for r in records] == ["done", "done"] and records[0]["environment"]["runs_in_group"] == 2
    outputs = store.get_outputs(specs[0].key)
    assert outputs["test/logits"].shape == (30, 5)
    if layer == "image":
        assert outputs["test/mask"].shape == (30, 24, 24)
        assert ((outputs["test/mask"] >= 0) & (outputs["test/mask"] <= 1)).all()


def test_an_unknown_adversary_layer_stops_with_one_line():
    from reprolib.papers.wang.methods import Adversarial

    with pytest.raises(SpecError, match="^layer must be one of image, conv4, conv5, got 'conv3'"):
        Adversarial(layer="conv3")
    with pytest.raises(ParameterError, match=r"^layers must be one of image, conv4, conv5 \(or a list of them\)"):
        get_chapter("W-T45").configure("smoke", layers=["conv5", "conv3"])


def test_randomization_at_sigma_zero_is_the_plain_model_and_noise_changes_the_logits(tmp_path):
    from reprolib.papers.wang.methods import Randomization

    store = ResultsStore(tmp_path)
    methods = [MultiLabelBCE(), Randomization(sigma=0.0), Randomization(sigma=2.0)]
    plain, *noisy = _method_run(methods, seeds=(0,), precision="fp32")  # bf16 would round the two paths apart
    run_sweep([plain, *noisy], store, progress=False)
    clean = store.get_outputs(plain.key)["test"]
    zero, two = (store.get_outputs(s.key)["test/logits"] for s in noisy)
    np.testing.assert_allclose(zero, clean, rtol=1e-4, atol=1e-5)
    assert np.abs(two - clean).mean() > 0.01


def test_feature_maps_stop_after_the_asked_stage():
    from reprolib.models import ResNetCifar, create_model
    from reprolib.papers.wang.methods import feature_map

    model = create_model(ResNetCifar(depth=8, width=4), [0, 1], (1, 24, 24), 5)
    x = torch.zeros(2, 3, 1, 24, 24)
    shapes = [tuple(feature_map(model, x, s).shape) for s in (1, 2, 3)]
    assert shapes == [(3, 8, 24, 24), (3, 16, 12, 12), (3, 32, 6, 6)]  # K·C channels, halved sides per stage


def _t45_frame():
    """Hand-made W-T45 results (3 runs × 1 attacker): randomization traces λ_M = 0.5 + 0.3·F1; adv@conv5 lies
    0.05 below that line, the baselines 0.03 above; λ = 3 of conv5 leaks less on dev but costs 5 points of dev F1."""
    rows = []

    def add(method, setting, f1, leak, dev_f1, dev_leak, delta):
        for run in range(3):
            jitter = 0.002 * (run - 1)
            rows.append(
                {
                    "method": method,
                    "setting": setting,
                    "run": run,
                    "attacker": 0,
                    "dev_F1": dev_f1,
                    "dev_leakage": dev_leak,
                    "lambda_M": leak + jitter,
                    "lambda_D_F1": leak - delta,
                    "delta": delta + jitter,
                    "mAP": f1,
                    "F1": f1,
                }
            )

    add("original", np.nan, 0.9, 0.77, 0.9, 0.77, 0.10)
    for sigma, f1 in ((0.0, 0.9), (1.0, 0.7), (2.0, 0.5)):
        add("randomization", sigma, f1, 0.5 + 0.3 * f1, f1, 0.5 + 0.3 * f1, 0.08)
    for method in ("blur", "blackout", "α=1"):
        add(method, np.nan, 0.8, 0.5 + 0.3 * 0.8 + 0.03, 0.8, 0.77, 0.09)
    add("adv@conv5", 1.0, 0.88, 0.5 + 0.3 * 0.88 - 0.05, 0.89, 0.70, 0.02)
    add("adv@conv5", 3.0, 0.84, 0.55, 0.85, 0.60, 0.01)
    for layer, delta in (("image", 0.06), ("conv4", 0.05)):
        add(f"adv@{layer}", 1.0, 0.88, 0.75, 0.89, 0.74, delta)
    add("α=1 + adv@conv5", 1.0, 0.7, 0.6, 0.7, 0.6, 0.02)
    return pd.DataFrame(rows)


def test_lambda_is_chosen_on_dev_within_the_f1_budget():
    from reprolib.papers.wang.t45 import choose

    frame = _t45_frame()
    assert choose(frame, "adv@conv5", 0.02) == 1.0  # λ = 3 leaks less on dev but loses 5 points of dev F1
    assert choose(frame, "adv@conv5", 0.10) == 3.0
    assert choose(frame.assign(dev_F1=0.0), "adv@conv5", 0.0) == 3.0  # equal dev F1: the lower dev leakage


def test_the_gap_to_the_noise_curve_interpolates_the_runs_own_curve():
    from reprolib.papers.wang.t45 import noise_gap

    frame = _t45_frame()
    rows = frame[(frame["method"] == "adv@conv5") & (frame["setting"] == 1.0)]
    np.testing.assert_allclose(noise_gap(frame, rows), [-0.05 - 0.002, -0.05, -0.05 + 0.002 - 0.0], atol=2e-3)


def test_w_t45_claims_on_a_hand_made_frame():
    chapter = get_chapter("W-T45")
    config = chapter.configure("smoke")
    claims = chapter.claims(_t45_frame(), config)
    assert list(claims["verdict"]) == ["reproduced", "reproduced", "reproduced", "reproduced"]
    table = chapter.table(_t45_frame(), config)
    assert list(table["method"]) == [
        "original",
        "blur",
        "blackout",
        "adv@image",
        "adv@conv4",
        "adv@conv5",
        "α=1",
        "α=1 + adv@conv5",
    ]
    assert table.set_index("method").loc["adv@conv5", "λ"] == "1"


def test_per_label_f1_and_the_w_f67_claim_on_hand_made_frames():
    from reprolib.papers.wang.f67 import label_f1

    labels = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    logits = np.array([[1.0, -1.0], [-1.0, 1.0], [-1.0, 1.0], [1.0, -1.0]])
    # label 0: TP 1, FN 1, FP 1 → F1 = ½; label 1: TP 2 → 1
    np.testing.assert_allclose(label_f1(labels, logits), [0.5, 1.0])
    chapter = get_chapter("W-F67")
    config = chapter.configure("smoke")
    rows = []
    for run in range(4):
        for k in range(5):
            before = 0.8 + 0.01 * k
            rows.append({"method": "original", "setting": np.nan, "run": run, "label": k, "F1": before, "chosen": True})
            drop = 0.02 + 0.003 * ((run + k) % 3)
            rows.append(
                {"method": "adv@conv5", "setting": 1.0, "run": run, "label": k, "F1": before - drop, "chosen": True}
            )
    frame = pd.DataFrame(rows)
    assert chapter.claims(frame, config)["verdict"].iloc[0] == "reproduced"
    hurt = frame.assign(F1=np.where((frame["method"] == "adv@conv5") & (frame["label"] == 2), 0.5, frame["F1"]))
    assert chapter.claims(hurt, config)["verdict"].iloc[0] == "not reproduced"


def test_dataset_leakage_agrees_with_the_bias_amplification_package():
    """Cross-check of λ_D against the `bias-amplification` package (PyPI, 0.2.1), test-only. Its ``Leakage``
    trains the attacker from its first argument to its second, so g is passed as the target and the labels as
    the input, with predictions equal to g (no perturbation): both then estimate the same λ_D. On labels whose
    first column equals g with probability 0.8 (others noise), the Bayes accuracy is 0.8."""
    bias_amplification = pytest.importorskip(
        "bias_amplification", reason="the bias-amplification package (pip install bias-amplification) is absent"
    )
    from bias_amplification.attacker_models import simpleDenseModel
    from bias_amplification.metrics import Leakage

    def toy(n, seed):
        rng = np.random.default_rng(seed)
        g = np.arange(n) % 2
        first = np.where(rng.random(n) < 0.8, g, 1 - g)
        return np.column_stack([first, *(rng.random((3, n)) < 0.2)]).astype(np.int64), g

    splits = {name: toy(n, s) for s, (name, n) in enumerate((("train", 2000), ("validation", 500), ("test", 2000)))}
    ours = dataset_leakage(splits, 1.0, 0, epochs=10, lr=1e-3).accuracy
    torch.manual_seed(0)
    attacker = simpleDenseModel(4, 1, num_layers=2, numFirst=16, activations=["relu", "sigmoid"])
    params = {"learning_rate": 0.01, "loss_function": "bce", "epochs": 20, "batch_size": 64}
    leak = Leakage(attacker, params, eval_metric="accuracy")
    (x, g), (tx, tg) = splits["train"], splits["test"]
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    leak.train(as_tensor(x), as_tensor(g[:, None]), "D")
    theirs = float(leak.calcLambda(leak.attacker_D, as_tensor(tx), as_tensor(tg[:, None])))
    assert bias_amplification is not None and abs(ours - 0.8) < 0.03 and abs(theirs - 0.8) < 0.03


# --- W-T3: joint decoding and RBA -----------------------------------------------------------------------------


def test_training_ratios_are_the_share_of_men_per_label():
    from reprolib.papers.wang.rba import training_ratios

    labels = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [1, 0, 0]])
    groups = np.array([1, 1, 0, 0])
    np.testing.assert_allclose(training_ratios(labels, groups), [2 / 3, 1 / 2, 1 / 2])  # no image of label 2: ½


def test_rba_moves_the_predicted_share_of_men_into_the_band_and_joint_decoding_takes_signs():
    from reprolib.papers.wang.rba import joint_decode, ratio_violation, rba_decode, training_ratios

    rng = np.random.default_rng(0)
    n = 400
    gender_scores = rng.normal(0, 2, n)
    # label 0 is predicted mostly for predicted men (score rises with the gender score): amplified
    scores = np.column_stack([gender_scores + rng.normal(0, 1, n) - 1, rng.normal(0, 1, n)])
    plain = joint_decode(scores, gender_scores)
    assert np.array_equal(plain.labels, scores > 0) and np.array_equal(plain.gender, (gender_scores > 0).astype(int))
    ratios = np.array([0.6, 0.5])
    before = training_ratios(plain.labels, plain.gender)
    assert before[0] > 0.8  # far above the training ratio
    result = rba_decode(scores, gender_scores, ratios, margin=0.05, steps=2000)
    assert (ratio_violation(result.labels, result.gender, ratios, 0.05) <= 0).all() and result.steps < 2000
    assert abs(training_ratios(result.labels, result.gender)[0] - 0.6) <= 0.05 + 1e-9
    unconstrained = rba_decode(scores, gender_scores, ratios, margin=0.99, steps=10)
    assert unconstrained.steps == 0 and np.array_equal(unconstrained.labels, plain.labels)
    with pytest.raises(ValueError, match=r"^margin must lie in \[0, 1\)"):
        rba_decode(scores, gender_scores, ratios, margin=1.0)


def test_a_decoded_leakage_attacker_needs_a_joint_gender_run(tmp_path):
    from reprolib.artifacts import load_artifact
    from reprolib.papers.wang.attackers import DecodedLeakage
    from reprolib.store import using_store

    store = ResultsStore(tmp_path)
    joint, plain = _multilabel_run(gender=True), _multilabel_run()
    run_sweep([joint, plain], store, progress=False)
    with using_store(store):
        for decoding in ("joint", "rba"):
            out = load_artifact(DecodedLeakage(run=joint.key, decoding=decoding, epochs=2, lr=1e-3))
            assert 0 <= float(out["accuracy"]) <= 1 and 0 <= float(out["F1"]) <= 1
        mixed = load_artifact(DecodedLeakage(run=joint.key, labels_run=plain.key, epochs=2, lr=1e-3))
        assert 0 <= float(mixed["accuracy"]) <= 1
        with pytest.raises(ValueError, match="predicts no gender"):
            load_artifact(DecodedLeakage(run=plain.key, epochs=2))


def test_w_t3_claims_on_hand_made_frames():
    chapter = get_chapter("W-T3")
    config = chapter.configure("smoke")
    rows = []
    for run in range(4):
        for a in range(2):
            jitter = 0.002 * ((run + a) % 3)
            for method, delta in (("joint", 0.12), ("joint + RBA", 0.123), ("joint + adv", 0.05)):
                rows.append(
                    {
                        "method": method,
                        "run": run,
                        "attacker": a,
                        "lambda_M": 0.6 + delta,
                        "lambda_D_F1": 0.6,
                        "delta": delta + jitter,
                        "F1": 0.5,
                        "violation": 0.01,
                        "rba_steps": 5,
                        "lam": 1.0,
                    }
                )
    frame = pd.DataFrame(rows)
    assert list(chapter.claims(frame, config)["verdict"]) == ["reproduced", "reproduced"]
    worse = frame.assign(delta=np.where(frame["method"] == "joint + RBA", frame["delta"] - 0.06, frame["delta"]))
    assert chapter.claims(worse, config)["verdict"].iloc[1] == "not reproduced"
    assert chapter.claims(frame.assign(rba_steps=0), config)["verdict"].iloc[1] == "by construction"
    assert chapter.table(frame, config)["paper: λ_M / λ_D / Δ / F1"].iloc[1] == "73.31 / 60.16 / 13.15 / 51.28"


# --- the real data: COCO 2014 and imSitu from user-given folders, on tiny files in the real formats -------------


def _write_tiny_coco(root):
    """COCO 2014 train and val in the real on-disk format: 3 train images (2 with a gendered person), 4 val."""
    import json

    from PIL import Image

    (root / "annotations").mkdir(parents=True)
    categories = [{"id": 1, "name": "person"}, {"id": 8, "name": "truck"}, {"id": 48, "name": "fork"}]
    specs = {
        "train": {10: ([1, 8], "A man driving a truck."), 11: ([1, 48], "A woman with a fork"), 12: ([8], "A man")},
        "val": {
            20: ([1, 8], "A man"),
            21: ([1], "A woman"),
            22: ([1, 48], "A girl eats"),
            23: ([1], "A man and a woman"),
        },
    }
    for split, entries in specs.items():
        (root / f"{split}2014").mkdir()
        images = [{"id": i, "file_name": f"COCO_{split}2014_{i:012d}.jpg"} for i in entries]
        for image in images:
            Image.new("RGB", (40, 30), (image["id"], 100, 200)).save(root / f"{split}2014" / image["file_name"])
        annotations = [  # every box [x, y, width, height] is [10, 5, 20, 15]; the val images' people have two
            {"id": n, "image_id": i, "category_id": c, "bbox": [10.0, 5.0, 20.0, 15.0]}
            for n, (i, c) in enumerate(
                (i, c) for i, (cats, _) in entries.items() for c in [*cats, *([1] if split == "val" else [])]
            )
        ]
        captions = [{"id": n, "image_id": i, "caption": text} for n, (i, (_, text)) in enumerate(entries.items())]
        (root / "annotations" / f"instances_{split}2014.json").write_text(
            json.dumps({"images": images, "annotations": annotations, "categories": categories})
        )
        (root / "annotations" / f"captions_{split}2014.json").write_text(
            json.dumps({"images": images, "annotations": captions})
        )


def test_the_coco_task_keeps_gendered_people_and_drops_the_person_label(tmp_path):
    from reprolib.papers.wang.real import WangCoco

    _write_tiny_coco(tmp_path)
    task = WangCoco(root=str(tmp_path), image_size=16).build(None)
    assert task.info["label_names"] == ["truck", "fork"] and task.info["num_labels"] == 2
    assert task.train.labels.tolist() == [[1, 0], [0, 1]] and task.train.groups.tolist() == [
        1,
        0,
    ]  # image 12: no person
    assert task.train.images.shape == (2, 3, 16, 16) and task.train.images.dtype == torch.uint8
    held_out = sorted(task.validation.groups.tolist() + task.test.groups.tolist())
    assert held_out == [0, 0, 1] and len(task.validation) + len(task.test) == 3  # image 23: both genders, dropped


def test_the_coco_task_fits_every_persons_box_to_the_crop(tmp_path):
    from reprolib.papers.wang.real import WangCoco

    _write_tiny_coco(tmp_path)
    task = WangCoco(root=str(tmp_path), image_size=16).build(None)
    # 40 × 30 → 21 × 16 (shorter side 16, int(16 · 40 / 30) = 21), crop from x = round(2.5) = 2: the box
    # (10, 5)–(30, 20) → x: 10 · 21/40 − 2 = 3.25 ↓ 3, 30 · 21/40 − 2 = 13.75 ↑ 14; y: 5 · 16/30 ↓ 2, 20 · 16/30 ↑ 11
    assert task.info["person_boxes"]["train"].tolist() == [[[3, 2, 14, 11]], [[3, 2, 14, 11]]]
    assert task.info["person_boxes"]["test"].shape[1:] == (2, 4)  # two people per val image


def test_box_fitting_follows_the_resize_and_the_centre_crop():
    from reprolib.papers.wang.real import fit_boxes

    # 100 high × 50 wide → 20 × 40 at S = 20, crop from y = 10; a box past the bottom edge is clipped
    boxes = np.array([[0.0, 0.0, 50.0, 100.0], [5.0, 30.0, 26.0, 99.0]])
    assert fit_boxes(boxes, 100, 50, 20).tolist() == [[0, 0, 20, 20], [2, 2, 11, 20]]


def test_masking_several_people_blacks_out_each_box_and_ignores_empty_ones():
    from reprolib.papers.wang.splits import mask_people

    images = torch.full((1, 1, 6, 6), 7, dtype=torch.uint8)
    boxes = torch.tensor([[[0, 0, 2, 1], [4, 4, 6, 6], [0, 0, 0, 0]]])
    masked = mask_people(images, boxes, "blackout")
    assert int((masked == 0).sum()) == 2 + 4 and masked[0, 0, 0, :2].tolist() == [0, 0] and masked[0, 0, 5, 5] == 0


def test_a_missing_coco_folder_stops_with_one_line_naming_it(tmp_path):
    from reprolib.papers.wang.real import WangCoco
    from reprolib.sources import SourceUnavailable

    with pytest.raises(SourceUnavailable, match=f"^COCO 2014 is not in {tmp_path}.*cocodataset.org") as error:
        WangCoco(root=str(tmp_path)).build(None)
    assert "\n" not in str(error.value)


def _write_tiny_imsitu(root):
    import json

    from PIL import Image

    man, woman, child = "n10287213", "n10787470", "n09917593"
    (root / "of500_images_resized").mkdir(parents=True)
    splits = {
        "train": {
            "cooking_1.jpg": ("cooking", [man, man, woman]),
            "lifting_1.jpg": ("lifting", [woman] * 3),
            "cooking_2.jpg": ("cooking", [child, child, man]),
        },
        "dev": {"lifting_2.jpg": ("lifting", [man] * 3), "vaulting_1.jpg": ("vaulting", [man] * 3)},
        "test": {"cooking_3.jpg": ("cooking", [woman, woman, man])},
    }
    for split, entries in splits.items():
        data = {}
        for image, (verb, agents) in entries.items():
            Image.new("RGB", (50, 40), (len(image) * 5, 10, 10)).save(root / "of500_images_resized" / image)
            data[image] = {"verb": verb, "frames": [{"agent": a, "place": "n08588294"} for a in agents]}
        (root / f"{split}.json").write_text(json.dumps(data))


def test_the_imsitu_task_reads_verbs_and_the_agents_gender(tmp_path):
    from reprolib.papers.wang.real import WangImSitu, agent_gender

    _write_tiny_imsitu(tmp_path)
    task = WangImSitu(root=str(tmp_path), image_size=8).build(None)
    assert task.info["label_names"] == ["cooking", "lifting"]  # the training split's verbs
    # cooking_2: no majority for man or woman (two children) → dropped; train sorted by file name
    assert task.train.labels.tolist() == [[1, 0], [0, 1]] and task.train.groups.tolist() == [1, 0]
    assert task.validation.labels.tolist() == [[0, 1]]  # vaulting is not a training verb: dropped
    assert task.test.groups.tolist() == [0] and task.test.images.shape == (1, 3, 8, 8)
    assert agent_gender([{"agent": "n10287213"}, {"agent": "n10787470"}, {}]) == -1


def test_a_missing_imsitu_folder_stops_with_one_line_naming_it_and_the_download_page(tmp_path):
    from reprolib.papers.wang.real import WangImSitu
    from reprolib.sources import SourceUnavailable

    with pytest.raises(SourceUnavailable, match=f"^imSitu is not in {tmp_path}: .*github.com/my89/imSitu") as error:
        WangImSitu(root=str(tmp_path)).build(None)
    assert "\n" not in str(error.value)
