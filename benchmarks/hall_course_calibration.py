"""Part I's `course` calibration (``reprolib.papers.hall.course``): trains the short calibration runs, applies the
rules (validation accuracy only) and writes what they chose to ``reprolib/papers/hall/course_calibration.json``.

    PYTHONPATH=. python benchmarks/hall_course_calibration.py [--store results/hall-course-calibration]

The runs are stored like any other, so a second call trains nothing and rewrites the same file.
"""

from __future__ import annotations

import argparse
import json

import pandas as pd

from reprolib.papers.hall import course
from reprolib.store import ResultsStore
from reprolib.sweep import run_sweep


def tagged_frame(store: ResultsStore, specs) -> pd.DataFrame:
    """The stored results of ``specs`` with each spec's tags as columns (``rule``, ``knob``, ``family``)."""
    frame = store.frame(run_sweep(specs, store))
    tags = pd.DataFrame([{"key": s.key, **s.tags} for s in specs]).drop_duplicates("key")
    return frame[["key", course.VALIDATION_ACCURACY]].merge(tags, on="key")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="results/hall-course-calibration")
    args = parser.parse_args()
    store = ResultsStore(args.store)
    knob_frame = tagged_frame(store, course.knob_specs())
    knobs = course.choose(knob_frame)["chosen"]
    print("knobs:", knobs)
    lengths = course.length_specs(knobs["ambiguous"], knobs["noise"])
    length_frame = tagged_frame(store, lengths)
    chosen = course.choose(knob_frame, length_frame)
    course.CALIBRATION_FILE.write_text(json.dumps(chosen, indent=1, sort_keys=True) + "\n")
    print(json.dumps(chosen["chosen"], indent=1))


if __name__ == "__main__":
    main()
