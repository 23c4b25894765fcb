"""H-RQ2, H-RQ3, H-RQ4a, H-RQ4b: run specifications and verdicts on hand-made frames (the rules: test_verdicts)."""

import numpy as np
import pandas as pd
import pytest

from reprolib import claims as C
from reprolib.chapter import ParameterError
from reprolib.chapters import get_chapter
from reprolib.papers.hall.rq3 import scaled_epochs
from reprolib.sweep import group_key

# --- H-RQ2 ---------------------------------------------------------------------------------------------------


def test_rq2_specs_cover_three_sweeps_around_one_shared_base_point():
    chapter = get_chapter("H-RQ2")
    config = chapter.configure("course")
    specs = chapter.specs(config)
    keys = {s.key for s in specs}
    assert len(keys) == len(specs)
    points = {(s.tags["depth"], s.tags["width"], s.tags["weight_decay"]) for s in specs}
    # the base point (8, 16, 1e-4) lies on the depth and width sweeps; the authors' weight decays miss 1e-4
    n_points = 1 + (len(config["depths"]) - 1) + (len(config["widths"]) - 1) + len(config["weight_decays"])
    assert len(points) == n_points
    assert len(specs) == n_points * len(config["eps"]) * config["runs"]
    # The model and recipe say what the tags say.
    for s in specs:
        assert s.model.depth == s.tags["depth"]
        assert s.model.width == s.tags["width"]
        assert s.recipe.weight_decay == s.tags["weight_decay"]
        assert s.recipe.epochs == config["epochs"]
    # The authors' weight decays, np.logspace(-5, -2, 8), hold the paper's two optima; the course takes every
    # other one. The sweep trains as one multi-run group.
    paper = get_chapter("H-RQ2").configure("paper")
    assert paper["weight_decays"] == [1e-5, 2.68e-5, 7.2e-5, 1.93e-4, 5.18e-4, 1.39e-3, 3.73e-3, 1e-2]
    assert paper["depths"] == [8, 14, 20, 26, 32, 38, 44, 50, 56, 74, 92, 110]
    decays = config["weight_decays"]
    assert decays == [1e-5, 7.2e-5, 5.18e-4, 3.73e-3]
    wd_sweep = [s for s in specs if s.tags["depth"] == 8 and s.tags["width"] == 16]
    assert {s.recipe.weight_decay for s in wd_sweep} == {*decays, 1e-4}
    assert len({group_key(s) for s in wd_sweep}) == 1


def test_rq2_base_point_shares_store_keys_with_rq1():
    rq1 = get_chapter("H-RQ1")
    rq2 = get_chapter("H-RQ2")
    config = rq2.configure("course", eps=[0.3], runs=2, epochs=30)
    rq1_keys = {s.key for s in rq1.main_specs(rq1.configure("course", eps=[0.3], runs=2, epochs=30))}
    base = {
        s.key for s in rq2.specs(config) if (s.tags["depth"], s.tags["width"], s.tags["weight_decay"]) == (8, 16, 1e-4)
    }
    assert base == rq1_keys


def test_rq2_rejects_bad_capacity_parameters():
    chapter = get_chapter("H-RQ2")
    with pytest.raises(ParameterError, match="depths must be .*6n\\+2"):
        chapter.configure("course", depths=[8, 9])
    with pytest.raises(ParameterError, match="widths must be"):
        chapter.configure("course", widths=[2, 8])
    with pytest.raises(ParameterError, match=r"weight_decays must lie in \(0, 0.1\], got 0.0"):
        chapter.configure("course", weight_decays=[0.0, 1e-4])
    with pytest.raises(ParameterError, match="model must be a CIFAR ResNet"):
        chapter.configure("course", model="resnet18")


def _capacity_frame(bias_by_knob, accuracy_by_knob, ece_by_knob=None, runs=6, eps=(0.2, 0.4)):
    """Runs of the course sweeps with BiasAmp, accuracy (and ECE) given per knob value (base elsewhere)."""
    base = {"depth": 8, "width": 16, "weight_decay": 1e-4}
    rng, rows = np.random.default_rng(0), []
    for knob, values in bias_by_knob.items():
        for value, bias in values.items():
            for e in eps:
                for run in range(runs):
                    noise = rng.normal(0, 0.001)
                    rows.append(
                        {
                            **base,
                            knob: value,
                            "eps": e,
                            "run": run,
                            "metrics.bias_amplification": bias + noise,
                            "metrics.accuracy": accuracy_by_knob[knob][value] + noise,
                            "metrics.ece": (ece_by_knob[knob][value] if ece_by_knob else 0.02) + noise,
                        }
                    )
    frame = pd.DataFrame(rows)
    # the base point is trained once: keep one copy of its runs
    return frame.drop_duplicates(subset=["depth", "width", "weight_decay", "eps", "run"])


def _course_sweeps(depth, width, decay):
    return {
        "depth": dict(zip([8, 14, 20], depth, strict=True)),
        "width": dict(zip([4, 8, 16, 32], width, strict=True)),
        "weight_decay": dict(zip([1e-5, 3.16e-5, 1e-4, 3.16e-4, 1e-3, 3.16e-3, 1e-2], decay, strict=True)),
    }


# The grids of the hand-made frames below (the book's earlier course grids), given to the chapters explicitly.
HAND_GRIDS = {"widths": [4, 8, 16, 32], "weight_decays": [1e-5, 3.16e-5, 1e-4, 3.16e-4, 1e-3, 3.16e-3, 1e-2]}


def test_rq2_verdicts_follow_the_data():
    chapter = get_chapter("H-RQ2")
    config = chapter.configure("course", **HAND_GRIDS)
    # Values at the base point must agree across sweeps: depth 8 ≡ width 16 ≡ weight decay 1e-4.
    paper_like = _capacity_frame(
        _course_sweeps([0.01, 0.0, 0.02], [0.03, 0.01, 0.01, 0.02], [0.02, 0.015, 0.01, 0.0, 0.005, 0.02, 0.04]),
        _course_sweeps([0.90, 0.92, 0.94], [0.80, 0.86, 0.90, 0.93], [0.89, 0.91, 0.90, 0.895, 0.89, 0.85, 0.80]),
    )
    table = chapter.claims(paper_like, config).set_index("claim")["verdict"]
    assert list(table) == [C.REPRODUCED] * 6
    monotone = _capacity_frame(
        _course_sweeps([0.01, 0.02, 0.03], [0.03, 0.02, 0.01, 0.0], [0.0, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05]),
        _course_sweeps([0.94, 0.93, 0.92], [0.94, 0.94, 0.94, 0.94], [0.95, 0.945, 0.94, 0.93, 0.92, 0.91, 0.90]),
    )
    table = chapter.claims(monotone, config)["verdict"].tolist()
    assert table[:3] == [C.NOT_REPRODUCED] * 3  # minima at an end of every sweep
    assert table[3] == C.NOT_REPRODUCED  # accuracy falls with depth
    assert table[5] == C.NOT_REPRODUCED  # best accuracy (1e-5) equals least BiasAmp (1e-5): no trade-off


def test_rq2_judges_each_eps_line_and_combines_them():
    """(Base point: depth 8 ≡ width 16 ≡ weight decay 1e-4 on each line.) A v on one ε line and a monotone curve
    on the other is not a v-shape "in every line"; pooling the two
    lines would have shown a v (the old rule's weakness)."""
    chapter = get_chapter("H-RQ2")
    config = chapter.configure("course", **HAND_GRIDS)
    accuracy = _course_sweeps([0.9] * 3, [0.9] * 4, [0.9] * 7)
    v_line = _capacity_frame(
        _course_sweeps([0.02, 0.0, 0.04], [0.04, 0.01, 0.02, 0.04], [0.05, 0.03, 0.02, 0.0, 0.01, 0.03, 0.05]),
        accuracy,
        eps=(0.2,),
    )
    monotone_line = _capacity_frame(
        _course_sweeps([0.0, 0.01, 0.02], [0.03, 0.015, 0.0, -0.01], [-0.01, -0.005, 0.0, 0.005, 0.01, 0.02, 0.03]),
        accuracy,
        eps=(0.4,),
    )
    both = pd.concat([v_line, monotone_line], ignore_index=True)
    vs = chapter.claims(both, config)["verdict"].tolist()[:3]
    assert vs == [C.NOT_REPRODUCED] * 3
    assert chapter.claims(v_line, config)["verdict"].tolist()[:3] == [C.REPRODUCED] * 3
    assert "ε = 0.2:" in chapter.claims(v_line, config).loc[0, "measured"]


# --- H-RQ3 ---------------------------------------------------------------------------------------------------


def test_rq3_epochs_scale_by_one_over_p_and_subsets_are_stratified_fractions():
    chapter = get_chapter("H-RQ3")
    config = chapter.configure("course")
    specs = chapter.specs(config)
    assert len(specs) == len(config["fractions"]) * len(config["eps"]) * config["runs"]
    for s in specs:
        p = s.tags["fraction"]
        assert s.recipe.epochs == round(config["epochs"] / p)
        assert s.recipe.warmup_epochs == round(1 / p)  # the warm-up scales too, as in the authors' configs
        assert s.task.train_fraction == p
    unscaled = chapter.specs(chapter.configure("course", scale_warmup=False))
    assert {s.recipe.warmup_epochs for s in unscaled} == {1}
    assert scaled_epochs(500, 0.3) == 1667 and scaled_epochs(1, 0.9) == 1
    with pytest.raises(ParameterError, match=r"fractions must lie in \(0, 1\], got 0.0"):
        chapter.configure("course", fractions=[0.0, 0.5])


def _fraction_frame(bias, accuracy, ece=None, fractions=(0.1, 0.2, 0.25, 0.5, 1.0), runs=6):
    rng = np.random.default_rng(0)
    rows = [
        {
            "fraction": p,
            "eps": e,
            "run": run,
            "metrics.bias_amplification": b + rng.normal(0, 0.001),
            "metrics.accuracy": a + rng.normal(0, 0.001),
            "metrics.ece": (ece or [0.02] * len(fractions))[i] + rng.normal(0, 0.001),
        }
        for i, (p, b, a) in enumerate(zip(fractions, bias, accuracy, strict=True))
        for e in (0.2, 0.4)
        for run in range(runs)
    ]
    return pd.DataFrame(rows)


def test_rq3_verdicts_follow_the_data():
    chapter = get_chapter("H-RQ3")
    config = chapter.configure("course")
    paper_like = _fraction_frame([0.0, 0.02, 0.03, 0.015, 0.01], [0.7, 0.8, 0.88, 0.93, 0.95])
    assert chapter.claims(paper_like, config)["verdict"].tolist() == [C.REPRODUCED, C.REPRODUCED]
    monotone = _fraction_frame([0.05, 0.04, 0.03, 0.02, 0.01], [0.95, 0.93, 0.9, 0.85, 0.8])
    assert chapter.claims(monotone, config)["verdict"].tolist() == [C.NOT_REPRODUCED, C.NOT_REPRODUCED]


# --- H-RQ4a / H-RQ4b -----------------------------------------------------------------------------------------


def test_rq4a_reads_exactly_the_runs_of_rq1():
    rq1, rq4a = get_chapter("H-RQ1"), get_chapter("H-RQ4a")
    for preset in ("smoke", "course"):
        rq1_keys = [s.key for s in rq1.main_specs(rq1.configure(preset))]  # Fig. 2's runs, not the recognisers
        assert [s.key for s in rq4a.specs(rq4a.configure(preset))] == rq1_keys
    paper = {s.key for s in rq4a.specs(rq4a.configure("paper"))}
    assert paper < {s.key for s in rq1.specs(rq1.configure("paper"))}  # the CIFAR-100 half of Fig. 2
    assert {s.tags["dataset"] for s in rq4a.specs(rq4a.configure("paper"))} == {"cifar100"}


def test_rq4a_verdicts_follow_the_data():
    chapter = get_chapter("H-RQ4a")
    config = chapter.configure("course")
    eps = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]

    def frame(ece):
        offsets = [-0.002, 0.001, 0.0, 0.002, -0.001]  # the same spread at every ε: no trend of its own
        return pd.DataFrame(
            [
                {"dataset": "digits", "eps": e, "run": run, "metrics.ece": v + o}
                for e, v in zip(eps, ece, strict=True)
                for run, o in enumerate(offsets)
            ]
        )

    falling = chapter.claims(frame([0.05, 0.045, 0.04, 0.03, 0.02, 0.0]), config)["verdict"].tolist()
    assert falling == [C.REPRODUCED, C.REPRODUCED]
    only_the_end = chapter.claims(frame([0.02, 0.02, 0.02, 0.02, 0.02, 0.0]), config)["verdict"].tolist()
    assert only_the_end == [C.REPRODUCED, C.INCONCLUSIVE]  # flat below ½: no trend either way


def test_rq4b_reads_the_runs_of_rq2_and_rq3_once_each():
    rq2, rq3, rq4b = get_chapter("H-RQ2"), get_chapter("H-RQ3"), get_chapter("H-RQ4b")
    config = rq4b.configure("course")
    keys = [s.key for s in rq4b.specs(config)]
    assert len(keys) == len(set(keys))
    assert set(keys) == {s.key for s in rq2.specs(rq2.configure("course"))} | {
        s.key for s in rq3.specs(rq3.configure("course"))
    }
    overridden = rq4b.configure("course", runs=3)
    assert overridden["capacity"]["runs"] == overridden["data"]["runs"] == 3
    for spec in rq4b.specs(config):
        assert spec.tags["in_capacity"] == ("depth" in spec.tags)
        assert spec.tags["in_data"] == ("fraction" in spec.tags)


def test_rq4b_verdicts_follow_the_data():
    chapter = get_chapter("H-RQ4b")
    config = chapter.configure("course")
    config["capacity"] = get_chapter("H-RQ2").configure("course", **HAND_GRIDS)
    rising_ece = _course_sweeps(
        [0.01, 0.015, 0.03], [0.005, 0.008, 0.01, 0.02], [0.02, 0.015, 0.01, 0.008, 0.006, 0.004, 0.002]
    )
    capacity = _capacity_frame(
        _course_sweeps([0.01, 0.0, 0.02], [0.03, 0.01, 0.01, 0.02], [0.02, 0.015, 0.01, 0.0, 0.005, 0.02, 0.04]),
        _course_sweeps([0.9] * 3, [0.9] * 4, [0.9] * 7),
        rising_ece,
    ).assign(in_capacity=True, in_data=False)
    data = _fraction_frame([0.0] * 5, [0.9] * 5, ece=[0.08, 0.06, 0.04, 0.03, 0.02]).assign(
        in_capacity=False, in_data=True
    )
    verdicts = chapter.claims(pd.concat([capacity, data], ignore_index=True), config)["verdict"].tolist()
    assert verdicts[:7] == [C.REPRODUCED] * 7
    falling_ece = _capacity_frame(
        _course_sweeps([0.01, 0.02, 0.03], [0.03, 0.02, 0.01, 0.0], [0.01] * 7),
        _course_sweeps([0.9] * 3, [0.9] * 4, [0.9] * 7),
        _course_sweeps([0.05, 0.04, 0.03], [0.07, 0.06, 0.05, 0.04], [0.05] * 7),
    ).assign(in_capacity=True, in_data=False)
    data = _fraction_frame([0.0] * 5, [0.9] * 5, ece=[0.02, 0.03, 0.04, 0.06, 0.08]).assign(
        in_capacity=False, in_data=True
    )
    verdicts = chapter.claims(pd.concat([falling_ece, data], ignore_index=True), config)["verdict"].tolist()
    assert verdicts[:2] == [C.NOT_REPRODUCED] * 2  # ECE falls with depth and width here
    assert verdicts[3:5] == [C.NOT_REPRODUCED] * 2  # BiasAmp monotone along ECE
    assert verdicts[6] == C.NOT_REPRODUCED  # ECE falls as data shrink


def _relation_frame(bias_ranks, runs=4):
    """Runs of one ε line over five capacity settings whose ECE rises 1 … 5 and whose BiasAmp takes the ranks
    given, one list per run, cycled."""
    rows = [
        {"eps": 0.3, "run": run, "metrics.ece": float(ece), "metrics.bias_amplification": float(rank)}
        for run in range(runs)
        for ece, rank in enumerate(bias_ranks[run % len(bias_ranks)], start=1)
    ]
    return pd.DataFrame(rows)


def test_rq4b_weak_relation_by_hand():
    from reprolib.papers.hall.rq4 import _weak_relation, run_correlations

    # Spearman ρ = 1 − 6Σd²/(n(n²−1)): ranks [2, 4, 1, 5, 3] and [3, 1, 5, 2, 4] give Σd² = 14, ρ = 0.3 each;
    # [1, 2, 3, 5, 4] gives Σd² = 2, ρ = 0.9.
    weak = _relation_frame([[2, 4, 1, 5, 3], [3, 1, 5, 2, 4]])
    assert np.allclose(run_correlations(weak), 0.3)
    assert _weak_relation(weak).verdict == C.REPRODUCED  # every run at 0.3: inside (0, ½)
    assert _weak_relation(_relation_frame([[1, 2, 3, 5, 4]])).verdict == C.NOT_REPRODUCED  # 0.9: strong
    none = _relation_frame([[2, 4, 1, 5, 3], [4, 2, 5, 1, 3]])  # ρ = +0.3 and −0.3: no relation shown
    assert _weak_relation(none).verdict == C.INCONCLUSIVE
