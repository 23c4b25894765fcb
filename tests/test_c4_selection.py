"""Thesis ch. 4 (C-4-T1, C-4-T2): each augmentation's strength chosen on a validation split — the rule on hand-made
candidates, the choice from hand-made validation runs (only once all are stored), validation runs on held-out
training images with seeds the table never uses, the same budget for every augmentation, bad grids stopping with
one line, and a tiny chapter trained in two stages."""

import pandas as pd
import pytest

import reprolib.papers.cherepanova  # noqa: F401 - registers the paper
from reprolib.artifacts import artifact_key
from reprolib.chapter import run_ids
from reprolib.papers.cherepanova.backdoor import PatchBackdoorTask
from reprolib.papers.cherepanova.c4_protocol import (
    ACCURACY_MARGIN,
    REFERENCE,
    STRENGTHS,
    choose,
    cutout_pixels,
    defence,
    validation_ids,
)
from reprolib.papers.cherepanova.c4_t1 import CHAPTER as T1
from reprolib.papers.cherepanova.c4_t1 import PILOT_RUNS as T1_PILOT
from reprolib.papers.cherepanova.c4_t2 import CHAPTER as T2
from reprolib.papers.cherepanova.c4_t2 import PILOT_RUNS as T2_PILOT
from reprolib.papers.cherepanova.c4_t2 import VALIDATION_SIZES, draw_target
from reprolib.papers.cherepanova.poison import clean_task
from reprolib.papers.cherepanova.transforms import Cutout
from reprolib.params import ParameterError
from reprolib.sources import load_source
from reprolib.store import ResultsStore, using_store


def candidates(strengths, accuracy, success, probability=None) -> pd.DataFrame:
    frame = pd.DataFrame({"strength": strengths, "accuracy": accuracy, "success": success})
    return frame if probability is None else frame.assign(adversarial_probability=probability)


# --- the rule ------------------------------------------------------------------------------------------------


def test_the_rule_keeps_candidates_within_the_margin_and_picks_the_lowest_success():
    assert ACCURACY_MARGIN == 0.02
    # α = 4 is 5 points below the baseline: not admissible, however low its success; α = 1 is exactly 2 below
    table = candidates([0.25, 1.0, 4.0], [0.95, 0.93, 0.90], [0.5, 0.3, 0.1])
    assert choose(table, 0.95, ["success"]) == 1.0
    # a wider margin admits α = 4
    assert choose(table, 0.95, ["success"], margin=0.05) == 4.0


def test_ties_go_to_the_graded_measure_then_the_accuracy_then_the_grid_order():
    table = candidates([0.25, 0.5, 0.75], [0.95] * 3, [0.0, 0.0, 0.25], probability=[0.3, 0.1, 0.0])
    assert choose(table, 0.95, ["success", "adversarial_probability"]) == 0.5
    table = candidates([0.25, 0.5, 0.75], [0.94, 0.95, 0.95], [0.0, 0.0, 0.0], probability=[0.1] * 3)
    assert choose(table, 0.95, ["success", "adversarial_probability"]) == 0.5
    table = candidates([0.25, 0.5, 0.75], [0.95] * 3, [0.2] * 3)
    assert choose(table, 0.95, ["success"]) == 0.25


def test_without_an_admissible_candidate_the_most_accurate_is_chosen():
    table = candidates([0.25, 1.0, 4.0], [0.80, 0.85, 0.70], [0.0, 0.9, 0.0])
    assert choose(table, 0.95, ["success"]) == 1.0


def test_a_cutout_strength_is_a_share_of_the_image_side_in_pixels():
    assert [cutout_pixels(s, 8) for s in (0.25, 0.5, 0.75)] == [2, 4, 6]
    assert [cutout_pixels(s, 16) for s in (0.25, 0.5, 0.75)] == [4, 8, 12]
    assert cutout_pixels(0.01, 8) == 1
    transform, method = defence("maxup_cutout", 0.25, 16)
    assert transform is None and method.transform == Cutout(size=4) and method.m == 4
    assert defence("kway_mixup", 4.0, 8)[0].k == 4 and defence("kway_mixup", 4.0, 8)[0].alpha == 4.0


# --- the presets and the validation runs --------------------------------------------------------------------


@pytest.mark.parametrize("chapter", [T1, T2], ids=["C-4-T1", "C-4-T2"])
def test_every_augmentation_has_as_many_candidates_and_its_thesis_value(chapter):
    for preset in chapter.presets:
        config = chapter.configure(preset)
        tuned = chapter.tuned(config)
        assert tuned == [d for d in config["defences"] if d in STRENGTHS]  # every augmentation is tuned
        assert len({len(chapter.grid(d, config)) for d in tuned}) == 1
        assert all(REFERENCE[STRENGTHS[d]] in chapter.grid(d, config) for d in tuned)


@pytest.mark.parametrize("first_run", [0, 10_000])
def test_t1_validation_runs_are_held_out_training_images_with_seeds_the_table_never_uses(first_run):
    config = T1.configure("course", first_run=first_run)
    specs = T1.validation_specs(config)
    grid_sizes = sum(len(T1.grid(d, config)) for d in T1.tuned(config))
    assert len(specs) == (1 + grid_sizes) * config["validation_runs"] * len(config["poisoned_shares"])
    assert all(s.task.split == "validation" and s.tags["stage"] == "validation" for s in specs)
    seeds = {s.seed for s in specs}
    assert seeds == set(validation_ids(config)) == {first_run + 200, first_run + 201}
    assert not seeds & (set(run_ids(config)) | set(T1_PILOT))
    for spec in specs:
        name, strength = spec.tags["defence"], spec.tags["strength"]
        assert (spec.recipe.batch_transform, spec.method) == defence(name, strength, 16)
        assert spec.task.trigger == config["trigger"]


def test_t2_validation_targets_are_held_out_training_images_attacked_by_the_basic_attack():
    config = T2.configure("course")
    specs = T2.validation_specs(config)
    assert len(specs) == (1 + 5 * 3) * config["validation_runs"]
    runs = {s.tags["run"] for s in specs}
    assert runs == {200, 201, 202, 203} and not runs & (set(run_ids(config)) | set(T2_PILOT))
    for spec in specs:
        poison = spec.task.poison
        assert poison.split == "validation" and poison.recipe.batch_transform is None  # crafted without a defence
        assert (poison.target_index, poison.adversarial_shift) == draw_target(spec.tags["run"], "digits", "validation")
        assert spec.seed == 1000 + spec.tags["run"]
    assert len({artifact_key(s.task.poison) for s in specs}) == config["validation_runs"]  # crafted once per target


def test_the_validation_split_is_a_stratified_fifth_of_the_training_images():
    source = load_source("digits")
    held_out = {c: round(0.2 * int((source.train_labels == c).sum())) for c in range(10)}
    task = PatchBackdoorTask(size=8, poisoned_share=1.0, target_class=3, seed=200, split="validation").build(None)
    clean = task.test.groups == 0
    assert len(task.train) == len(source.train_labels) - sum(held_out.values())
    assert {c: int((task.test.labels[clean] == c).sum()) for c in range(10)} == held_out
    assert int(task.train.groups.sum()) == int((task.train.labels == 3).sum())  # the whole target class patched
    poison_task = clean_task("digits", 8, split="validation", seed=200)
    assert len(poison_task.test) == sum(held_out.values()) == VALIDATION_SIZES["digits"]
    assert (poison_task.test.images == task.test.images[clean]).all()  # the same held-out images for both threats
    assert not (clean_task("digits", 8, split="validation", seed=201).test.images == poison_task.test.images).all()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"alphas": [0.5, 1.0, 2.0]},
            r"^cutout_sides must have as many values as alphas \(the same selection budget for every augmentation\), "
            r"got 2 and 3$",
        ),
        ({"cutout_sides": [0.5, 1.5]}, r"^cutout_sides must lie in \(0, 1\], got 1.5$"),
        ({"alphas": [0.0, 1.0]}, r"^alphas must lie in \(0, 100\], got 0.0$"),
        ({"validation_runs": 0}, r"^validation_runs must be an integer in 1 … 100, got 0$"),
    ],
)
@pytest.mark.parametrize("chapter", [T1, T2], ids=["C-4-T1", "C-4-T2"])
def test_bad_selection_parameters_stop_with_one_line(chapter, params, message):
    with pytest.raises(ParameterError, match=message):
        chapter.configure("smoke", **params)


# --- the choice from the validation runs --------------------------------------------------------------------


def validation_frame(config, values: dict) -> pd.DataFrame:
    """Hand-made stored validation runs of C-4-T1: (defence, strength) → (accuracy, success) for every run."""
    rows = []
    for spec in T1.validation_specs(config):
        accuracy, success = values[(spec.tags["defence"], spec.tags["strength"])]
        rows.append({**spec.tags, "metrics.accuracy": accuracy, "metrics.success": success})
    return pd.DataFrame(rows)


def test_a_strength_is_chosen_from_the_validation_runs_only_once_all_are_stored():
    config = T1.configure("smoke")  # mixup and CutMix, α ∈ {0.5, 1}
    values = {("none", None): (0.90, 0.8), ("mixup", 0.5): (0.89, 0.6), ("mixup", 1.0): (0.85, 0.1)}
    values |= {("cutmix", 0.5): (0.91, 0.5), ("cutmix", 1.0): (0.90, 0.5)}
    frame = validation_frame(config, values)
    # mixup α = 1 is 5 points less accurate: not admissible; CutMix ties on success, the more accurate α = 0.5 wins
    assert T1.chosen(config, frame) == {"mixup": 0.5, "cutmix": 0.5}
    table = T1.selection_table(config, frame).set_index(["defence", "strength"])
    assert table.loc[("mixup", "α = 1"), "admissible"] == "no" and table.loc[("mixup", "α = 0.5"), "chosen"] == "✓"
    assert table.loc[("mixup", "α = 1"), "accuracy change (points)"] == "-5.0"
    assert (table["chosen"] == "✓").sum() == 2
    missing = frame.drop(index=frame[(frame["defence"] == "mixup") & (frame["strength"] == 1.0)].index[:1])
    assert T1.chosen(config, missing) == {"mixup": None, "cutmix": 0.5}
    assert T1.summary(missing, config)["strength_mixup"] == "not chosen yet"
    no_baseline = frame[frame["defence"] != "none"]
    assert T1.chosen(config, no_baseline) == {"mixup": None, "cutmix": None}
    # a grid of one value is used as it is, with no validation runs
    single = T1.configure("smoke", alphas=[1.0], cutout_sides=[0.5])
    assert T1.validation_specs(single) == [] and T1.chosen(single, pd.DataFrame()) == {"mixup": 1.0, "cutmix": 1.0}


def test_the_table_waits_for_the_choice():
    config = T1.configure("smoke")
    table = T1.table_specs(config, {"mixup": None, "cutmix": 1.0})
    assert {s.tags["defence"] for s in table if s.tags["stage"] == "table"} == {"none", "cutmix"}


def test_the_chapter_trains_the_validation_stage_then_the_table_at_the_chosen_strength(tmp_path):
    store = ResultsStore(tmp_path / "results")
    config = T1.configure(
        "smoke", defences=["none", "mixup"], poisoned_shares=[1.0], runs=1, epochs=1, alphas=[0.5, 1.0]
    )
    results = T1.run(config, store, progress=False)
    validation = results[results["stage"] == "validation"]
    assert len(validation) == 3 and (validation["config.task.split"] == "validation").all()
    means = validation.groupby(validation["strength"].fillna(-1))[["metrics.accuracy", "metrics.success"]].mean()
    grid = pd.DataFrame(
        {
            "strength": [0.5, 1.0],
            "accuracy": means.loc[[0.5, 1.0], "metrics.accuracy"].to_numpy(),
            "success": means.loc[[0.5, 1.0], "metrics.success"].to_numpy(),
        }
    )
    expected = choose(grid, float(means.loc[-1, "metrics.accuracy"]), ["success"])
    table = results[(results["stage"] == "table") & (results["defence"] == "mixup")]
    assert len(table) == 1 and table["config.recipe.batch_transform.alpha"].iloc[0] == expected
    assert (results[results["stage"] == "table"]["config.task.split"] == "test").all()
    with using_store(store):
        assert T1.chosen(config) == {"mixup": expected}  # read back from the store
    assert T1.results(config, store)["key"].tolist() == results["key"].tolist()
    finished = sorted(r["finished_at"] for r in store.records(results["key"]))
    T1.run(config, store, progress=False)  # nothing is trained twice
    assert sorted(r["finished_at"] for r in store.records(results["key"])) == finished
