"""Part III's claim rules on simulated runs (``reprolib.papers.kurmi.calibration``), and the rules applied to the
paper's own numbers (``common.paper_runs``), checked by hand."""

import numpy as np
import pytest

from reprolib import verdicts as V
from reprolib.papers.kurmi import calibration as K
from reprolib.papers.kurmi.common import paper_runs

DRAWS = 1000
SLACK = 0.02  # about three Monte-Carlo standard errors of a 5% rate at 1,000 draws (as tests/test_verdicts.py)


def _rate(scenario, scale, mode, verdicts):
    codes = K.simulate(scenario, scale, mode, DRAWS, seed=7)
    return float(np.isin(codes, [V.CODES.index(v) for v in verdicts]).mean())


@pytest.mark.parametrize("scenario", K.KURMI_SCENARIOS, ids=lambda s: s.claim[:40])
def test_no_false_reproduced_and_no_chance_partly(scenario):
    for scale in ("course", "paper"):
        assert _rate(scenario, scale, "edge", [V.REPRODUCED]) <= V.ALPHA + SLACK
        assert _rate(scenario, scale, "flat", [V.REPRODUCED, V.PARTLY]) <= V.ALPHA + SLACK


@pytest.mark.parametrize(
    "scenario", [s for s in K.KURMI_SCENARIOS if s.claim in K.RESOLVABLE_AT_PAPER], ids=lambda s: s.claim[:40]
)
def test_power_at_the_papers_effect(scenario):
    assert _rate(scenario, "paper", "effect", [V.REPRODUCED]) >= 0.8


def test_the_calibration_is_seeded_and_tabulated():
    scenario = K.KURMI_SCENARIOS[0]
    assert np.array_equal(
        K.simulate(scenario, "course", "effect", 200, 3), K.simulate(scenario, "course", "effect", 200, 3)
    )
    table = K.calibration_frame(draws=50)
    assert len(table) == len(K.KURMI_SCENARIOS) and {"paper FP", "course power"} <= set(table.columns)


def test_paper_runs_carry_the_papers_t_statistic():
    """GBA − adversarial on Table 1's mean: 92.00 ± 0.15 vs 86.80 ± 0.40 → mean 5.20, sd √(0.15² + 0.40²) = 0.4272
    points over 5 runs; t = 5.20 / (0.4272 / √5) = 27.2."""
    d = paper_runs([(1, 92.00, 0.15), (-1, 86.80, 0.40)])
    assert len(d) == 5
    assert d.mean() == pytest.approx(0.052) and d.std(ddof=1) == pytest.approx(np.hypot(0.15, 0.40) / 100)
    assert V.sign(d).verdict == V.REPRODUCED
    # Table 3, HairColor gap: GBA 7.39 ± 2.1 vs Domain-Ind 7.44 ± 3.2: t = −0.05 / (3.83 / √5) — no evidence
    assert V.sign(-paper_runs([(1, 7.39, 2.1), (-1, 7.44, 3.2)])).verdict == V.INCONCLUSIVE
    assert paper_runs([(1, 92.0, None)]) is None
