"""Part I chapters F1, fn1, RQ5a/b, RQ6: run specifications, parameter checks, and verdicts on hand-made data."""

import numpy as np
import pandas as pd
import pytest

from reprolib import claims as C
from reprolib.chapter import ParameterError
from reprolib.chapters import get_chapter
from reprolib.models import ResNetCifar
from reprolib.papers.hall.protocol import PAPER_RECIPE
from reprolib.papers.hall.rq5 import schedule_windows
from reprolib.sweep import group_key
from reprolib.training import learning_rate

EPOCHS = 20  # lr: 0.01 at epoch 1, 0.1 for epochs 2–10, 0.01 for 11–15, 0.001 for 16–20


def _drops_before(epoch: int) -> int:
    return (epoch >= 11) + (epoch >= 16)


def _curves(bias, aligned, conflicting, runs=5, seed=0):
    """A results frame of ``runs`` runs whose curves follow the given functions of the epoch, plus noise."""
    rng = np.random.default_rng(seed)
    recipe = PAPER_RECIPE.with_(epochs=EPOCHS)
    rows = []
    for run in range(runs):
        curve = []
        for epoch in range(1, EPOCHS + 1):
            noise = rng.normal(0, 0.001, 3)
            a, c = aligned(epoch) + noise[1], conflicting(epoch) + noise[2]
            curve.append(
                {
                    "epoch": epoch,
                    "lr": learning_rate(recipe, epoch - 1),
                    "bias_amplification": bias(epoch) + noise[0],
                    "accuracy": (a + c) / 2,
                    "cell_accuracy": {"t1_a0": a, "t0_a1": a, "t1_a1": c, "t0_a0": c},
                }
            )
        rows.append({"run": run, "curves": curve})
    return pd.DataFrame(rows)


def test_schedule_windows_follow_the_recorded_learning_rates():
    recipe = PAPER_RECIPE.with_(epochs=EPOCHS)
    w = schedule_windows(range(1, EPOCHS + 1), [learning_rate(recipe, e) for e in range(EPOCHS)])
    assert w.drops == [11, 16]  # the warm-up's rise at epoch 2 is not a drop
    assert w.early == [1, 2] and w.late == [19, 20] and w.before_first_drop == [9, 10]
    assert w.around(16) == ([15], [16])


def test_rq5a_verdicts_follow_the_curves():
    chapter = get_chapter("H-RQ5a")
    config = chapter.configure("smoke")
    paper_like = _curves(
        bias=lambda e: 0.1 * np.exp(-(e - 1) / 3) + 0.02 * _drops_before(e),  # early peak, up at each drop
        aligned=lambda e: 0.95,
        conflicting=lambda e: 0.1 + 0.8 * (e - 1) / (EPOCHS - 1),
    )
    assert list(chapter.claims(paper_like, config)["verdict"]) == [C.REPRODUCED] * 5
    rising = _curves(
        # no early peak, down at each drop, and down again at the end (epochs 18-20)
        bias=lambda e: 0.005 * e - 0.02 * _drops_before(e) - 0.01 * (e >= 18),
        aligned=lambda e: 0.1 + 0.8 * (e - 1) / (EPOCHS - 1),
        conflicting=lambda e: 0.95,
    )
    assert list(chapter.claims(rising, config)["verdict"]) == [C.NOT_REPRODUCED] * 5


def test_rq5a_cell_claims_are_not_run_without_bias():
    chapter = get_chapter("H-RQ5a")
    curves = _curves(lambda e: 0.0, lambda e: 0.9, lambda e: 0.9)
    verdicts = list(chapter.claims(curves, chapter.configure("smoke", eps=0.0))["verdict"])
    assert verdicts[3:] == [C.NOT_RUN, C.NOT_RUN]


def test_rq5b_verdicts_follow_the_curves():
    chapter = get_chapter("H-RQ5b")
    config = chapter.configure("smoke")
    # early (epochs 1-2) ≈ −0.043, late ≈ 0: late − ½·early ≈ +0.021; conflicting cells right early (0.9)
    dampened = _curves(lambda e: -0.05 * np.exp(-(e - 1) / 3), lambda e: 0.9, lambda e: 0.9)
    assert list(chapter.claims(dampened, config)["verdict"]) == [C.REPRODUCED] * 3
    # amplified early, conflicting cells wrong early (0.1): the group is used first
    amplified = _curves(lambda e: 0.05 * np.exp(-(e - 1) / 3), lambda e: 0.9, lambda e: 0.1)
    assert list(chapter.claims(amplified, config)["verdict"]) == [C.NOT_REPRODUCED] * 3
    # dampened early and as much late: the dampening does not disappear
    lasting = _curves(lambda e: -0.05, lambda e: 0.9, lambda e: 0.9)
    assert list(chapter.claims(lasting, config)["verdict"])[1] == C.NOT_REPRODUCED


def test_rq5_specs_record_curves_and_swap_roles_only_in_rq5b():
    a, b = get_chapter("H-RQ5a"), get_chapter("H-RQ5b")
    config_a = a.configure("course")
    specs_a, specs_b = a.specs(config_a), b.specs(b.configure("course"))
    assert len(specs_a) == len(specs_b) == config_a["runs"]
    assert all(s.curves and s.task.eps == 0.3 and not s.task.swap_roles for s in specs_a)
    assert all(s.curves and s.task.swap_roles for s in specs_b)
    assert len({group_key(s) for s in specs_a}) == 1  # the runs share one multi-run model
    paper_config = a.configure("paper")
    paper = a.specs(paper_config)
    # the authors' ClassyVision ResNet-110: projection shortcuts, zero-initialised last BNs
    assert len(paper) == paper_config["runs"]
    assert paper[0].model == ResNetCifar(depth=110, shortcut="B", zero_init_residual=True)
    assert paper[0].recipe.epochs == 500 and paper[0].task.dataset == "cifar100"


@pytest.mark.parametrize(
    "chapter_id, params, message",
    [
        ("H-RQ5a", {"eps": 0.7}, "eps must be a number in [0, 0.5], got 0.7"),
        ("H-RQ5b", {"dataset": "mnist"}, "dataset must be one of digits, fashion_mnist, cifar10, cifar100"),
        ("H-RQ6", {"eta": [0.5, 1.5]}, "eta must lie in [0, 1], got 1.5"),
        ("H-F1", {"seed": -1}, "seed must be an integer ≥ 0, got -1"),
        ("H-F1", {"examples": 9}, "examples must be an integer in 1 … 8, got 9"),
    ],
)
def test_bad_parameters_name_the_parameter_and_its_range(chapter_id, params, message):
    with pytest.raises(ParameterError) as error:
        get_chapter(chapter_id).configure("course", **params)
    assert message in str(error.value)


def _rq6_frame(bias_of_eta, eps=0.3, runs=5, seed=0):
    rng = np.random.default_rng(seed)
    rows = [
        {"eps": eps, "eta": eta, "run": r, "metrics.bias_amplification": bias_of_eta(eta) + rng.normal(0, 0.002)}
        for eta in (0.0, 0.25, 0.5, 0.75, 1.0)
        for r in range(runs)
    ]
    return pd.DataFrame(rows)


def test_rq6_verdicts_follow_the_data():
    chapter = get_chapter("H-RQ6")
    config = chapter.configure("course", eps=[0.3], eta=[0.0, 0.25, 0.5, 0.75, 1.0])
    paper_like = _rq6_frame(lambda eta: 0.2 * (eta - 0.5))
    assert list(chapter.claims(paper_like, config)["verdict"]) == [C.REPRODUCED] * 3
    reversed_ = _rq6_frame(lambda eta: 0.2 * (0.5 - eta))
    assert list(chapter.claims(reversed_, config)["verdict"]) == [C.NOT_REPRODUCED] * 3
    # As the paper words it: dampened at *low* η and positive at *large* η, not at every η on either side.
    # Here η = 0.25 is amplified and η = 0.75 dampened; only η = 0 and η = 1 are judged.
    mixed = _rq6_frame(lambda eta: {0.0: -0.05, 0.25: 0.02, 0.5: 0.0, 0.75: 0.01, 1.0: 0.05}[eta])
    assert list(chapter.claims(mixed, config)["verdict"]) == [C.REPRODUCED] * 3


def test_rq6_specs_use_the_overlay_builder_and_share_one_model():
    chapter = get_chapter("H-RQ6")
    specs = chapter.specs(chapter.configure("course"))
    assert len(specs) == 5 * 3 * 4
    assert {s.task.name for s in specs} == {"overlay"}
    assert {(s.task.eta, s.task.eps) for s in specs} == {
        (eta, eps) for eta in (0.0, 0.2, 0.5, 0.8, 1.0) for eps in (0.2, 0.3, 0.4)
    }  # Fig. 10's η, a subset of Fig. 11's grid
    assert len({group_key(s) for s in specs}) == 1
    assert len({s.key for s in specs}) == len(specs)


def test_fn1_trains_the_inversion_label_without_bias():
    chapter = get_chapter("H-fn1")
    specs = chapter.specs(chapter.configure("paper"))
    assert {(s.task.dataset, s.task.eps, s.task.swap_roles) for s in specs} == {
        ("fashion_mnist", 0.0, True),
        ("cifar100", 0.0, True),
    }
    assert {s.model.name for s in specs} == {"resnet18", "resnet_cifar"}


def _fn1_frame(values_by_dataset):
    return pd.DataFrame(
        [{"dataset": d, "metrics.accuracy": v} for d, values in values_by_dataset.items() for v in values]
    )


def test_fn1_verdicts_follow_the_data():
    chapter = get_chapter("H-fn1")
    config = chapter.configure("paper")
    paper_like = _fn1_frame(
        {"fashion_mnist": [1.0, 0.999, 1.0, 1.0, 0.995], "cifar100": [0.96, 0.95, 0.965, 0.955, 0.97]}
    )
    table = chapter.claims(paper_like, config)
    assert list(table["verdict"]) == [C.REPRODUCED] * 3
    # the same rules on the paper's own numbers (100%, 96%, their order) reproduce them
    assert list(table["paper"]) == [
        "100% (the rule on the paper's numbers: reproduced)",
        "96% (the rule on the paper's numbers: reproduced)",
        "100% vs 96% (the rule on the paper's numbers: reproduced)",
    ]
    unlike = _fn1_frame({"fashion_mnist": [0.96, 0.97, 0.96, 0.965, 0.97], "cifar100": [1.0] * 5})
    assert list(chapter.claims(unlike, config)["verdict"]) == [C.PARTLY, C.NOT_REPRODUCED, C.NOT_REPRODUCED]


def test_fn1_band_judges_the_median_run_not_a_t_interval_shrunk_at_the_ceiling():
    chapter = get_chapter("H-fn1")
    config = chapter.configure("course")
    # four runs at 100%, one at 98.5%: the t-interval of the mean is [99.06%, 100.3%], "near-perfect"; the
    # median's distribution-free interval with 5 runs is [min, max] = [98.5%, 100%]: high, not near-perfect
    row = chapter.claims(_fn1_frame({"digits": [1.0, 1.0, 1.0, 1.0, 0.985]}), config).iloc[0]
    assert row["verdict"] == C.PARTLY
    assert row["measured"] == "median 100.00% [90% CI 98.50%, 100.00%] (n=5)"
    # fewer than 5 runs cannot bound the median at 5% per side: inconclusive, whatever the values
    assert chapter.claims(_fn1_frame({"digits": [1.0] * 4}), config).iloc[0]["verdict"] == C.INCONCLUSIVE


def test_f1_trains_nothing_and_its_table_has_no_verdict():
    chapter = get_chapter("H-F1")
    config = chapter.configure("course")
    assert chapter.specs(config) == []
    table = chapter.claims(pd.DataFrame(), config)
    assert len(table) == 1 and table.loc[0, "verdict"] == "—"


def test_f1_pairs_are_an_image_and_its_inversion():
    chapter = get_chapter("H-F1")
    originals, inverted = chapter.pairs("digits", chapter.configure("course", examples=3))
    assert originals.shape == inverted.shape == (3, 1, 8, 8)
    assert np.array_equal(inverted.numpy(), 255 - originals.numpy())
