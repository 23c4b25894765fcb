"""Part III's rules applied to the paper's own numbers (``common.paper_runs``), checked by hand. The rules'
calibration on simulated runs is ``tests/test_verdict_calibration.py`` (every paper's scenarios)."""

import numpy as np
import pytest

from reprolib import verdicts as V
from reprolib.papers.kurmi.common import paper_runs


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
