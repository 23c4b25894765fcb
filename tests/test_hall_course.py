"""Part I's course calibration rules and protocol choices (reprolib.papers.hall.course, .protocol), and the claim
that links ε = ½ to footnote 1 (H-RQ1), on hand-made values."""

import pandas as pd

from reprolib import claims as C
from reprolib.chapters import get_chapter
from reprolib.papers.hall import course
from reprolib.papers.hall.protocol import model_spec, recipe_for


def test_closest_to_target_and_ties_to_the_smaller_knob():
    table = {0.0: [1.0, 1.0], 0.02: [0.98, 0.98], 0.04: [0.96, 0.962], 0.06: [0.94, 0.94]}
    assert course.closest_to_target(table) == 0.04
    assert course.closest_to_target({0.0: [0.97], 48.0: [0.95]}) == 0.0  # both 0.01 away: the smaller knob
    assert course.closest_to_target({0.0: [0.8958], 48.0: [0.78]}) == 0.0  # nothing reaches 96%: the closest


def test_shortest_length_on_the_plateau():
    assert course.shortest_on_plateau({10: [0.80], 20: [0.86], 40: [0.935], 80: [0.942]}) == 40  # 0.7 points off
    assert course.shortest_on_plateau({10: [0.80], 20: [0.86], 40: [0.92], 80: [0.942]}) == 80  # 2.2 points off
    assert course.shortest_on_plateau({10: [0.95, 0.93], 20: [0.94, 0.945]}) == 10  # 0.94 vs 0.9425


def test_the_committed_choices_are_what_the_rules_give_on_the_committed_tables():
    stored = course.load_course()
    tables = {name: {float(k): v for k, v in table.items()} for name, table in stored["tables"].items()}
    chosen = stored["chosen"]
    assert chosen["ambiguous"] == course.closest_to_target(tables["ambiguous"])
    assert chosen["noise"] == course.closest_to_target(tables["noise"])
    for family in course.FAMILIES:
        assert chosen[f"epochs_{family}"] == course.shortest_on_plateau(tables[f"length_{family}"])
    # … and the course presets use them
    rq5b, rq6, rq1 = (get_chapter(c).configure("course") for c in ("H-RQ5b", "H-RQ6", "H-RQ1"))
    assert rq5b["ambiguous"] == chosen["ambiguous"] and rq5b["epochs"] == chosen["epochs_inversion_ambiguous"]
    assert rq6["noise"] == chosen["noise"] and rq6["epochs"] == chosen["epochs_overlay"]
    assert rq1["epochs"] == chosen["epochs_inversion"]


def test_calibration_runs_are_judged_on_validation_only():
    specs = course.knob_specs() + course.length_specs(0.04, 0.0)
    assert all(s.evaluate_on == ("validation", "test") for s in specs)
    assert all(s.task.validation_fraction == course.VALIDATION_FRACTION for s in specs)
    assert {s.tags["rule"] for s in specs} == {"ambiguous", "noise", "length"}
    assert {s.recipe.epochs for s in specs if s.tags["rule"] == "length"} == set(course.LENGTHS)


def test_protocol_defaults_follow_the_text_then_the_code():
    cifar = recipe_for("cifar100", 500)
    assert (cifar.augment, cifar.crop_padding, cifar.nesterov, cifar.precision) == (
        "pad_resized_crop_flip",
        4,
        True,
        "fp32",
    )
    he = recipe_for("cifar100", 500, {"cifar_augment": "translate_crop", "nesterov": False, "precision": "bf16"})
    assert (he.augment, he.nesterov, he.precision) == ("pad_crop_flip", False, "bf16")
    assert recipe_for("fashion_mnist", 500).augment == "resized_crop_flip"
    assert model_spec("resnet110").shortcut == "B" and model_spec("resnet110").zero_init_residual
    assert model_spec("resnet110", {"resnet": "he2016"}).shortcut == "A"
    assert model_spec("resnet18").name == "resnet18"  # the text's ResNet-18 on Fashion-MNIST
    paper = get_chapter("H-RQ1").configure("paper")
    assert paper["eps"]["cifar100"] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]  # the authors' CIFAR-100 grid
    assert len(paper["eps"]["fashion_mnist"]) == 11


def _rq1_frame(amp_half, recognition, runs=5):
    rows = [
        {"dataset": "cifar100", "eps": 0.5, "run": r, "recogniser": False, "metrics.bias_amplification": v}
        for r, v in enumerate(amp_half)
    ]
    rows += [{"dataset": "cifar100", "eps": 0.0, "run": r, "recogniser": True, "metrics.accuracy": v,
              "metrics.bias_amplification": 0.0} for r, v in enumerate(recognition)]  # fmt: skip
    return pd.DataFrame(rows)


def test_rq1_links_bias_amplification_at_half_to_recognition():
    chapter = get_chapter("H-RQ1")
    config = chapter.configure("paper", dataset=["cifar100"], eps=[0.5])

    def verdict(frame):
        table = chapter.claims(frame, config).set_index("claim")
        return table.loc[[c for c in table.index if "recognising inversion" in c][0]]

    # BiasAmp(½) = −0.040 ± 0.001 and recognisers at 96% ± 0.1%: equal within ±0.005
    row = verdict(_rq1_frame([-0.041, -0.040, -0.039, -0.040, -0.040], [0.960, 0.961, 0.959, 0.960, 0.960]))
    assert row["verdict"] == C.REPRODUCED and row["paper"].startswith("−(1 − 96%) = −0.04 from fn1")
    # BiasAmp(½) ≈ 0 while the recogniser errs 4% of the time: the model at ε = ½ sees more than the group
    row = verdict(_rq1_frame([0.0, 0.001, -0.001, 0.0, 0.0], [0.960, 0.961, 0.959, 0.960, 0.960]))
    assert row["verdict"] == C.NOT_REPRODUCED
