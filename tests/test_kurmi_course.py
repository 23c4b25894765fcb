"""Part III's `course` scale (reprolib.papers.kurmi.course) and the core rules it shares with Part I
(reprolib.course_scale): the rules on hand-made tables, the calibration runs, the committed choices and the
presets that read them; the pixel-noise knob of the skew tasks."""

import numpy as np
import pandas as pd
import pytest
import torch

from reprolib import course_scale
from reprolib.chapters import get_chapter
from reprolib.papers.kurmi import course
from reprolib.papers.kurmi.skew_tasks import ColourSkewTask, GreyColourTask, noisy_source
from reprolib.sources import ImageSource

# --- the core rules ---------------------------------------------------------------------------------------------


def test_closest_to_target_ties_to_the_smaller_value():
    assert course_scale.closest_to_target({0.0: [0.9, 0.92], 32.0: [0.80, 0.80], 64.0: [0.7]}, 0.78) == 32.0
    assert course_scale.closest_to_target({0.0: [0.97], 48.0: [0.95]}, 0.96) == 0.0  # both 0.01 away
    assert course_scale.closest_to_target({64.0: [0.5], 0.0: [0.99]}, 0.0) == 64.0  # nothing reaches it: closest
    assert course_scale.closest_to_target({0.0: [0.05, -0.01], 32.0: [-0.03]}, 0.0) == 0.0  # means 0.02 vs 0.03


def test_shortest_on_plateau_within_the_margin_of_the_best_mean():
    table = {10: [0.70, 0.72], 20: [0.80], 40: [0.885, 0.885], 80: [0.894]}
    assert course_scale.shortest_on_plateau(table) == 40  # 0.9 points below the best
    assert course_scale.shortest_on_plateau({**table, 40: [0.88]}) == 80  # 1.4 points below
    assert course_scale.shortest_on_plateau({10: [0.95, 0.93], 20: [0.94, 0.945]}) == 10  # 0.94 vs 0.9425
    assert course_scale.shortest_on_plateau({10: [0.93], 20: [0.95], 40: [0.94]}, margin=0.0) == 20
    assert course_scale.shortest_on_plateau({80: [0.9], 40: [0.9]}) == 40  # a tie: the shorter


def test_calibration_frame_summarises_the_runs_and_marks_the_choice():
    frame = course_scale.calibration_frame({"20.0": [0.8, 0.9, 0.85], "10.0": [0.5, 0.7]}, 20, "epochs")
    assert list(frame.index) == [10.0, 20.0]
    assert frame.loc[10.0, "mean validation accuracy"] == pytest.approx(0.6)
    assert (frame.loc[20.0, "lowest run"], frame.loc[20.0, "highest run"]) == (0.8, 0.9)
    assert list(frame["chosen"]) == ["", "✓"]


# --- Part III's rules on hand-made results ------------------------------------------------------------------------

PAPER_T4 = {"95%": 0.7763, "98%": 0.6229}  # Table 4's vanilla


def _results(accuracy):
    """A fake ``results(specs)`` for ``course.calibrate_family``: each spec's validation accuracy is
    ``accuracy(epochs, noise, setting)``; it records which specs were asked for."""
    asked = []

    def results(specs):
        asked.extend(specs)
        rows = [
            {
                "key": s.key,
                course.VALIDATION_ACCURACY: accuracy(s.tags["epochs"], s.tags["noise"], s.tags["setting"]),
                "environment.seconds": 2.0 * s.recipe.epochs * 3,
                "environment.runs_in_group": 3,
                **s.tags,
            }
            for s in specs
        ]
        return pd.DataFrame(rows)

    return results, asked


def test_the_paper_vanilla_targets_are_the_tables_numbers():
    assert course.paper_vanilla("colour_mnist") == pytest.approx(PAPER_T4)
    assert course.paper_vanilla("cifar10s") == pytest.approx({"CIFAR-10S": 0.8843})
    assert course.paper_vanilla("celeba") == pytest.approx({"HeavyMakeup": 0.6195, "HairColor": 0.7397})


def test_within_the_gate_the_length_rule_alone_decides_and_no_knob_is_trained():
    plateau = {10: 0.70, 20: 0.78, 40: 0.795, 80: 0.80}  # 40 is 0.5 points below 80

    results, asked = _results(lambda epochs, noise, setting: plateau[epochs] - (0.15 if setting == "98%" else 0))
    out = course.calibrate_family("colour_mnist", results)
    assert out["epochs"] == 40 and out["noise"] == 0.0 and "noise_deviations" not in out
    # at 40 epochs: (0.795 − 0.7763 + 0.645 − 0.6229) / 2 = +2.04 points, within the +10-point gate
    assert out["gate"]["deviation"] == pytest.approx(0.0204, abs=1e-4)
    assert out["gate"]["settings"]["98%"] == pytest.approx([0.6229, 0.645])
    assert {s.tags["noise"] for s in asked} == {0.0} and {s.recipe.epochs for s in asked} == set(course.LENGTHS)
    assert out["seconds_per_run_epoch"] == pytest.approx(2.0)


def test_beyond_the_gate_the_noise_closest_to_the_paper_is_kept_and_the_length_chosen_again():
    def accuracy(epochs, noise, setting):  # 20 points too accurate without noise; σ = 64 comes closest
        base = PAPER_T4[setting] + 0.20 - noise / 320
        return base - (0.05 if epochs == 10 else 0) - (0.03 if noise and epochs == 20 else 0)

    results, asked = _results(accuracy)
    out = course.calibrate_family("colour_mnist", results)
    assert out["gate"] == {"epochs": 20, "deviation": pytest.approx(0.20), "settings": out["gate"]["settings"]}
    assert out["noise"] == 64.0  # at 20 epochs: +7 points at σ = 32, −3 at 64, −13 at 96
    assert out["noise_deviations"][64.0] == pytest.approx([-0.03] * 6)
    assert out["epochs"] == 40  # at σ = 64, 20 epochs are 3 points below the plateau
    assert {s.tags["noise"] for s in asked} == set(course.NOISE_GRID)
    assert {s.recipe.epochs for s in asked if s.tags["noise"] == 32.0} == {20}  # the knob at rule 1's length


def test_the_gate_is_one_sided_and_strict():
    frame = pd.DataFrame(
        {"setting": ["95%", "98%"], "noise": [0.0, 0.0], course.VALIDATION_ACCURACY: [0.7763 - 0.3, 0.6229 - 0.3]}
    )
    assert not course.needs_knob(frame, "colour_mnist")  # far *less* accurate than the paper: no knob
    below = frame.assign(**{course.VALIDATION_ACCURACY: [0.7763 + 0.12, 0.6229 + 0.07]})
    assert not course.needs_knob(below, "colour_mnist")  # one setting beyond, the mean +9.5 points: within
    beyond = frame.assign(**{course.VALIDATION_ACCURACY: [0.7763 + 0.12, 0.6229 + 0.09]})
    assert course.needs_knob(beyond, "colour_mnist")  # the mean +10.5 points


# --- the calibration runs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", list(course.FAMILIES))
def test_calibration_runs_are_the_course_presets_vanilla_on_validation(family):
    chapter = get_chapter(course.FAMILIES[family])
    specs = course.calibration_specs(family)
    config = chapter.configure("course")
    settings = chapter.settings(config)
    assert len(specs) == len(course.LENGTHS) * len(settings) * course.CALIBRATION_RUNS
    assert {s.task.split for s in specs} == {"validation"} and {s.method.name for s in specs} == {"vanilla"}
    assert {s.recipe.epochs for s in specs} == set(course.LENGTHS)
    assert {s.task.skew for s in specs} == {t.skew for t in settings.values()}
    assert {s.model for s in specs} == {chapter.model_spec(config)}
    recipe = chapter.recipe(config)
    assert all(s.recipe.replace(epochs=recipe.epochs) == recipe for s in specs)
    # at σ = 0 a calibration run is the run the course would train on that split: no noise field in its key
    assert all("noise" not in s.task.to_dict() for s in specs)
    assert all(s.task.noise == 64.0 for s in course.calibration_specs(family, [10], 64.0))


def test_noise_is_seeded_per_task_and_off_keeps_the_task():
    images = torch.full((4, 1, 2, 2), 100, dtype=torch.uint8)
    source = ImageSource("toy", images, torch.arange(4), images[:2], torch.arange(2), 4)
    a, b = noisy_source(source, 32.0, seed=1), noisy_source(source, 32.0, seed=1)
    assert torch.equal(a.train_images, b.train_images) and torch.equal(a.test_images, b.test_images)
    assert not torch.equal(a.train_images, noisy_source(source, 32.0, seed=2).train_images)
    deviation = a.train_images.double() - 100
    assert 10 < float(deviation.std()) < 60 and a.name == "toy-noise32"
    assert GreyColourTask().to_dict() == GreyColourTask(noise=0.0).to_dict() != GreyColourTask(noise=32.0).to_dict()
    assert ColourSkewTask(noise=32.0).to_dict()["noise"] == 32.0
    clean, noisy = GreyColourTask(seed=3).build(None), GreyColourTask(seed=3, noise=64.0).build(None)
    assert torch.equal(clean.train.labels, noisy.train.labels) and torch.equal(clean.train.groups, noisy.train.groups)
    assert not torch.equal(clean.train.images, noisy.train.images)


# --- the committed calibration and the presets that read it --------------------------------------------------------


def test_the_committed_choices_are_what_the_rules_give_on_the_committed_tables():
    stored = course.load_course()
    assert stored["rules"] == {
        "lengths": list(course.LENGTHS),
        "margin": course.PLATEAU_MARGIN,
        "gate": course.GATE,
        "noise_grid": list(course.NOISE_GRID),
        "runs": course.CALIBRATION_RUNS,
    }
    assert set(stored["families"]) == set(course.FAMILIES)
    for chosen in stored["families"].values():
        lengths = {float(k): v for k, v in chosen["lengths"].items()}
        assert chosen["epochs"] == course_scale.shortest_on_plateau(lengths, course.PLATEAU_MARGIN)
        assert (chosen["gate"]["deviation"] > course.GATE) == (chosen["noise"] > 0)
        settings = chosen["gate"]["settings"]
        assert chosen["gate"]["deviation"] == pytest.approx(np.mean([m - p for p, m in settings.values()]))
        assert all(len(runs) == course.CALIBRATION_RUNS * len(settings) for runs in lengths.values())


@pytest.mark.parametrize(
    "chapter_id, family",
    [("K-T1", "cifar10s"), ("K-T5", "cifar10s"), ("K-F5", "cifar10s"), ("K-F13", "cifar10s"),
     ("K-T4", "colour_mnist"), ("K-T3", "celeba")],
)  # fmt: skip
def test_the_course_presets_read_the_committed_calibration(chapter_id, family):
    chosen = course.load_course()["families"][family]
    chapter = get_chapter(chapter_id)
    config = chapter.configure("course")
    assert config["epochs"] == chosen["epochs"]
    assert config["runs"] == course.COURSE_RUNS
    assert f"Each setting runs {course.COURSE_RUNS} seeds" in course.rule_text(family)
    assert {task.noise for task in chapter.settings(config).values()} == {chosen["noise"]}
    assert course.COURSE[f"epochs_{family}"] == chosen["epochs"]
    assert f"{chosen['epochs']} epochs here" in course.rule_text(family)
    assert course.length_frame(family)["chosen"].tolist().count("✓") == 1
    shown = course.tables(family)
    gate = course.knob_frame(family)
    assert gate.loc["mean", "difference"] == pytest.approx(gate["difference"].iloc[:-1].mean())
    if chosen["noise"] > 0:  # the gate opened: the σ table marks the chosen σ, and rule 1 ran again at it
        noise = course.noise_frame(family)
        assert list(noise.index) == list(course.NOISE_GRID) and noise.loc[chosen["noise"], "chosen"] == "✓"
        assert len(shown) == 4 and shown[0]["chosen"].tolist().count("✓") == 1
    else:
        assert course.noise_frame(family).empty and len(shown) == 2


def test_the_runs_rule_keeps_the_projected_time_within_the_budget_less_its_margin():
    # 20 min × 0.85 = 17 min: 3 seeds took 8.4 → 17 / 2.8 = 6.07 → 6 seeds (6 × 2.8 = 16.8 ≤ 17; 7 × 2.8 = 19.6 > 17)
    assert course.course_runs(8.4, 3) == 6
    assert course.course_runs(17.0, 3) == 3  # exactly the allowance
    assert course.course_runs(30.0, 3) == 3  # over budget already: never fewer than the calibration's seeds
    assert course.course_runs(1.0, 2) == 34
    assert course.COURSE_RUNS == course.course_runs(course.MEASURED_MINUTES, course.CALIBRATION_RUNS)
    with pytest.raises(ValueError, match="measured_minutes must be > 0"):
        course.course_runs(0.0)


@pytest.mark.parametrize("chapter_id", ["K-T1", "K-T3", "K-T4", "K-T5", "K-F5", "K-F13"])
def test_course_grids_are_subsets_of_the_paper_presets(chapter_id):
    chapter = get_chapter(chapter_id)
    course_config, paper_config = chapter.configure("course"), chapter.configure("paper")
    for grid in ("lambdas", "lff_qs", "dro_step_sizes", "drop_fractions"):
        assert set(course_config[grid]) <= set(paper_config[grid]), grid
    for skews in ("skew", "skews"):
        if skews in course_config:
            assert course_config[skews] == paper_config[skews]
