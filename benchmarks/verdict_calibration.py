"""The calibration table of the verdict rules (book page "How verdicts are computed"), on simulated runs.

For every claim rule, in the chapter's own shape at the `course` and the `paper` preset: the false-positive
rate (`reproduced` when the claim is false in the hardest way), the chance support (`reproduced` or `partly`
with no effect anywhere) and the power (`reproduced` under an effect of the paper's size). Scenarios and noise
levels: `reprolib.verdict_calibration`. Then, for comparison, the rate at which a cluster-bootstrap rule for
optima ("the resampled optimum is interior / in the claimed order in ≥ 95% of resamples") says `reproduced`,
beside this book's rules on the same draws: the reason the rules use confidence sets from paired tests.

    PYTHONPATH=. python benchmarks/verdict_calibration.py --draws 40000
    PYTHONPATH=. python benchmarks/verdict_calibration.py --draws 20000 --chapters K-   # only Part III's rows
"""

from __future__ import annotations

import argparse

import numpy as np

from reprolib import verdict_calibration as K
from reprolib import verdicts as V


def _argopt(means, optimum):
    return np.argmin(means, -1) if optimum == "min" else np.argmax(means, -1)


def _resampled_means(rng, Y, resamples):
    """Means per setting of ``resamples`` cluster-bootstrap resamples of each draw: (draws, resamples, m)."""
    n = Y.shape[1]
    weights = rng.multinomial(n, np.full(n, 1 / n), size=resamples) / n
    return np.einsum("rn,bnm->brm", weights, Y)


def bootstrap_rates(draws: int, resamples: int, seed: int = 0) -> str:
    """Rates of `reproduced` of bootstrap-proportion rules for one ε line of H-RQ2's weight-decay sweep, beside
    the rules of `reprolib.verdicts` on the same draws: with the claim false, and (for the order of optima)
    true with the paper's effect."""
    rng = np.random.default_rng(seed)
    reproduced = V.CODES.index(V.REPRODUCED)
    lines = ["| claim | scale | truth | bootstrap rule | this book's rule |", "|---|---|---|---|---|"]
    for scale, runs, m in (("course", 4, 7), ("paper", 20, 13)):
        sd, sd_accuracy = K.NOISE[scale]["bias_amp"], K.NOISE[scale]["accuracy"]
        shape = f"{scale} ({runs} runs × {m})"
        t = np.linspace(-1, 1, m)
        for truth, means in (("one arm (falls 0.01, then flat)", 0.01 * np.where(t < 0, -t, 0.0)), ("flat", 0 * t)):
            Y = means + rng.normal(0, sd, (draws, runs, 1)) + rng.normal(0, sd, (draws, runs, m))
            best = _argopt(_resampled_means(rng, Y, resamples), "min")
            boot = (((best > 0) & (best < m - 1)).mean(-1) >= 0.95).mean()
            ours = (V.interior_codes(Y, "min") == reproduced).mean()
            lines.append(f"| v-shape | {shape} | {truth} | {boot:.1%} | {ours:.1%} |")
        gap = 0.44 / 3  # the paper's optima, 0.44 decades apart on a 3-decade grid (t spans 2)
        order_truths = (
            ("same optimum", -0.02 * t**2, 0.02 * t**2),
            ("accuracy flat, BiasAmp lowest at the top end", 0 * t, 0.02 * ((t - 1) / 2) ** 2),
            ("**claim true**: optima 0.44 decades apart", -0.02 * (t + gap) ** 2, 0.02 * (t - gap) ** 2),
        )
        for truth, acc_means, bias_means in order_truths:
            acc = (
                acc_means + rng.normal(0, sd_accuracy, (draws, runs, 1)) + rng.normal(0, sd_accuracy, (draws, runs, m))
            )
            bias = bias_means + rng.normal(0, sd, (draws, runs, 1)) + rng.normal(0, sd, (draws, runs, m))
            a = _argopt(_resampled_means(rng, acc, resamples), "max")
            b = _argopt(_resampled_means(rng, bias, resamples), "min")
            boot = ((a < b).mean(-1) >= 0.95).mean()
            ours = (V.order_codes((t, acc), (t, bias), ("max", "min")) == reproduced).mean()
            lines.append(f"| argmax accuracy < argmin BiasAmp | {shape} | {truth} | {boot:.1%} | {ours:.1%} |")
    lines += ["", f"{draws:,} draws, {resamples:,} cluster resamples each; one ε line."]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=10000, help="simulated chapters per cell (default 10,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", action="store_true", help="print the bootstrap comparison instead")
    parser.add_argument(
        "--chapters", nargs="+", metavar="PREFIX", help="recompute only these chapters' rows (ids starting with PREFIX)"
    )
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples in the comparison")
    args = parser.parse_args()
    if args.bootstrap:
        print(bootstrap_rates(min(args.draws, 2000), args.resamples, args.seed))
        return
    table = (
        K.updated_table(args.chapters, args.draws, args.seed)
        if args.chapters
        else K.calibration_table(args.draws, args.seed)
    )
    K.write_table(table)
    print(f"{len(table)} scenarios, {args.draws:,} draws per cell: wrote {K.TABLE_CSV} and {K.TABLE_MD}")
    for scale in K.SCALES:
        print(f"highest FP at {scale}:")
        print(table.nlargest(5, f"{scale} FP")[["chapter", "claim", f"{scale} runs", f"{scale} FP"]].to_string())


if __name__ == "__main__":
    main()
