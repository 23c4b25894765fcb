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

from reprolib.chapters import get_chapter
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


CHAPTERS = {"K-T1": "cifar10s", "K-T5": "cifar10s", "K-F13": "cifar10s", "K-F5": "cifar10s",
            "K-T4": "colour_mnist", "K-T3": "celeba"}  # fmt: skip


def course_run_epochs(epochs: dict[str, int]) -> dict[str, int]:
    """Run-epochs of every Part III course run (each distinct run once: chapters share runs) per family, with the
    family's training length ``epochs[family]``."""
    seen, total = set(), dict.fromkeys(course.FAMILIES, 0)
    for chapter_id, family in CHAPTERS.items():
        chapter = get_chapter(chapter_id)
        for spec in chapter.specs(chapter.configure("course", epochs=epochs[family])):
            if spec.key not in seen:
                seen.add(spec.key)
                total[family] += spec.recipe.epochs
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="results/kurmi-course-calibration")
    args = parser.parse_args()
    chosen = course.calibrate(tagged_results(ResultsStore(args.store)))
    course.CALIBRATION_FILE.write_text(json.dumps(chosen, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    for family, stored in chosen["families"].items():
        print(family, {k: stored[k] for k in ("epochs", "noise", "seconds_per_run_epoch")}, stored["gate"])
    # Part III's course in vanilla-run seconds: the run-epochs of every course run at the chosen lengths, at the
    # calibration's seconds per vanilla run-epoch (methods with a discriminator or a mask cost more).
    run_epochs = course_run_epochs({f: stored["epochs"] for f, stored in chosen["families"].items()})
    seconds = {f: n * chosen["families"][f]["seconds_per_run_epoch"] for f, n in run_epochs.items()}
    print("course run-epochs:", run_epochs, "vanilla-equivalent seconds:", {f: round(v) for f, v in seconds.items()})


if __name__ == "__main__":
    main()
