import pandas as pd
import pytest

from reprolib import claims as C
from reprolib.chapters import get_chapter


def test_near_zero_rule():
    assert C.check_near_zero("c", "0", [0.01, -0.01, 0.0]).verdict == C.REPRODUCED  # CI covers 0
    assert C.check_near_zero("c", "0", [0.004, 0.0041, 0.0039]).verdict == C.REPRODUCED  # |mean| ≤ 0.005
    assert C.check_near_zero("c", "0", [0.05, 0.051, 0.049]).verdict == C.NOT_REPRODUCED


def test_positive_rule():
    clear = {0.1: [0.02, 0.03, 0.025], 0.3: [0.05, 0.06, 0.055]}
    assert C.check_positive("c", ">0", clear).verdict == C.REPRODUCED
    noisy = {0.1: [0.02, -0.01, 0.01], 0.3: [0.05, 0.06, 0.055]}
    assert C.check_positive("c", ">0", noisy).verdict == C.PARTLY
    wrong = {0.1: [-0.02, -0.03, -0.01], 0.3: [-0.05, 0.0, -0.02]}
    assert C.check_positive("c", ">0", wrong).verdict == C.NOT_REPRODUCED


def test_increasing_rule():
    x = [0.1] * 5 + [0.2] * 5 + [0.3] * 5
    assert C.check_increasing("c", "up", x, [i / 100 for i in range(15)]).verdict == C.REPRODUCED
    assert C.check_increasing("c", "up", x, [-i / 100 for i in range(15)]).verdict == C.NOT_REPRODUCED


def test_unknown_verdict_is_rejected():
    with pytest.raises(ValueError, match="verdict must be one of"):
        C.Claim("c", "p", "m", "sort of")


def _frame(values_by_eps, dataset="digits"):
    rows = [
        {"dataset": dataset, "eps": e, "metrics.bias_amplification": v}
        for e, values in values_by_eps.items()
        for v in values
    ]
    return pd.DataFrame(rows)


def test_rq1_verdicts_follow_the_data():
    chapter = get_chapter("H-RQ1")
    config = chapter.configure("course")
    paper_like = _frame(
        {0.0: [0.001, -0.001, 0.0], 0.1: [0.01, 0.012, 0.011], 0.3: [0.03, 0.031, 0.029], 0.5: [0.0, 0.0, 0.0]}
    )
    verdicts = list(chapter.claims(paper_like, config)["verdict"])
    assert verdicts == [C.REPRODUCED] * 4
    flat = _frame(
        {
            0.0: [0.0, 0.001, -0.001],
            0.1: [-0.01, -0.012, -0.011],
            0.3: [-0.03, -0.031, -0.029],
            0.5: [-0.1, -0.11, -0.09],
        }
    )
    verdicts = list(chapter.claims(flat, config)["verdict"])
    assert verdicts == [C.REPRODUCED, C.NOT_REPRODUCED, C.NOT_REPRODUCED, C.NOT_REPRODUCED]


def test_rq1_cifar100_expects_dampening_at_half_and_an_earlier_peak():
    chapter = get_chapter("H-RQ1")
    config = chapter.configure("paper", eps=[0.0, 0.1, 0.3, 0.5])
    fm = _frame({0.0: [0.0] * 3, 0.1: [0.01] * 3, 0.3: [0.03, 0.031, 0.029], 0.5: [0.0] * 3}, "fashion_mnist")
    cf = _frame(
        {0.0: [0.0] * 3, 0.1: [0.05, 0.051, 0.049], 0.3: [0.02, 0.021, 0.019], 0.5: [-0.02, -0.021, -0.019]}, "cifar100"
    )
    table = chapter.claims(pd.concat([fm, cf]), config)
    assert table.iloc[-1]["verdict"] == C.REPRODUCED  # peak at 0.1 on CIFAR-100 vs 0.3
    dampened = table[table["claim"].str.contains("dampened")]
    assert list(dampened["verdict"]) == [C.REPRODUCED]
