"""Does bf16 autocast (and channels_last) change a chapter's metrics? H-RQ1 on the digits, fp32 against bf16.

Trains the same runs (same seeds, ε, class assignments) once per setting and prints, per ε, the mean accuracy
and BiasAmp with 95% intervals for each, and the largest per-run difference. The verdict to read: are the
bf16 − fp32 differences inside the run-to-run spread (the intervals)?

    python benchmarks/precision_check.py --device cuda
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from reprolib.metrics import mean_ci
from reprolib.papers.hall.protocol import inversion_run, recipe_for
from reprolib.store import ResultsStore
from reprolib.sweep import run_sweep


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--eps", default="0.2,0.4")
    args = parser.parse_args()
    eps_grid = [float(e) for e in args.eps.split(",")]
    settings = {
        "fp32": {"precision": "fp32", "channels_last": False},
        "bf16 + channels_last": {"precision": "bf16", "channels_last": True},
    }
    results = {}
    with tempfile.TemporaryDirectory() as root:
        store = ResultsStore(root)
        for name, options in settings.items():
            recipe = recipe_for("digits", args.epochs, **options)
            specs = [inversion_run("digits", "resnet8", e, r, recipe) for e in eps_grid for r in range(args.runs)]
            run_sweep(specs, store, device=args.device, progress=False)
            frame = store.frame([s.key for s in specs])
            results[name] = frame.sort_values(["config.task.eps", "config.seed"]).reset_index(drop=True)
    fp32, bf16 = results.values()
    print(f"device {args.device}, {args.runs} runs per ε, {args.epochs} epochs, ResNet-8 on the digits")
    for metric in ("accuracy", "bias_amplification"):
        column = f"metrics.{metric}"
        for eps in eps_grid:
            rows = [f"{metric:>18s} ε={eps:g}"]
            for name, frame in results.items():
                mean, low, high = mean_ci(frame.loc[np.isclose(frame["config.task.eps"], eps), column])
                rows.append(f"{name}: {mean:+.4f} [{low:+.4f}, {high:+.4f}]")
            mask = np.isclose(fp32["config.task.eps"], eps)
            diff = bf16.loc[mask, column].to_numpy() - fp32.loc[mask, column].to_numpy()
            rows.append(f"max |bf16 − fp32| per run: {np.abs(diff).max():.4f}, mean diff {diff.mean():+.4f}")
            print("  ".join(rows))
    print(
        "recorded:",
        sorted(
            {
                (r["precision"], r["channels_last"])
                for f in results.values()
                for r in f[["environment.precision", "environment.channels_last"]]
                .rename(columns=lambda c: c.split(".")[1])
                .to_dict("records")
            }
        ),
    )


if __name__ == "__main__":
    main()
