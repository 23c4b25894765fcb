"""Part III's `course` calibration (``reprolib.papers.kurmi.course``): trains the calibration runs (vanilla on the
validation split), applies the rules and writes what they chose to ``reprolib/papers/kurmi/course_calibration.json``.

    PYTHONPATH=. python benchmarks/kurmi_course_calibration.py [--store results/kurmi-course-calibration]

The runs are stored like any other, so a second call trains nothing and rewrites the same file (the seconds per
run-epoch are those the runs took when they were trained).
"""

from __future__ import annotations

import argparse
import json

import pandas as pd

from reprolib.papers.kurmi import course
from reprolib.store import ResultsStore
from reprolib.sweep import run_sweep

COLUMNS = ["key", course.VALIDATION_ACCURACY, "environment.seconds", "environment.runs_in_group"]


def tagged_results(store: ResultsStore):
    """``results(specs)`` for ``course.calibrate``: train what is missing, then the stored results with each
    spec's tags as columns."""

    def results(specs) -> pd.DataFrame:
        frame = store.frame(run_sweep(specs, store))
        tags = pd.DataFrame([{"key": s.key, **s.tags} for s in specs]).drop_duplicates("key")
        return frame[COLUMNS].merge(tags, on="key")

    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="results/kurmi-course-calibration")
    args = parser.parse_args()
    chosen = course.calibrate(tagged_results(ResultsStore(args.store)))
    course.CALIBRATION_FILE.write_text(json.dumps(chosen, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    for family, stored in chosen["families"].items():
        print(family, {k: stored[k] for k in ("epochs", "noise", "seconds_per_run_epoch")}, stored["gate"])


if __name__ == "__main__":
    main()
