"""Calibration of the verdict rules (``reprolib.verdicts``) on simulated runs, before any real run is judged: one
registry of scenarios for every paper, one simulation, one table.

Each :class:`Scenario` is one claim of a chapter, judged by one registered rule (``verdicts.RULES``), with the
chapter's own shape (runs per setting, the grid of settings, the ε lines judged one by one, runs that share a seed
across settings) at the ``course`` and the ``paper`` preset, and three ways to simulate its runs:

- ``"edge"``: the claim is false in the way that is *hardest* for the rule (the least favourable null): e.g.
  for "> 0 at every ε" all ε are at the paper's effect except one at exactly 0; for "≈ 0" the true value sits
  on the edge of the band; for a v-shape the curve falls and then stays flat (one arm only);
- ``"flat"``: no effect anywhere (every setting at 0, a flat curve, equal methods): the rate of ``reproduced``
  *or* ``partly`` here shows that ``partly`` is not granted by chance;
- ``"effect"``: the claim holds with an effect of the paper's size.

A paper registers its scenarios from its own package (``papers.<paper>.calibration`` calls
:func:`register_scenarios` on import), built from the draws below or its own; the core imports no paper.
A curve's run values are ``mean(setting) + u(cluster) + e``, with a cluster (run) effect u and a run-level noise
e, both normal with the run-to-run spread of the metric at that scale (:data:`NOISE`, or the shape's own ``sd``).
:func:`calibration_table` measures, per scenario and scale, the false-positive rate (``reproduced`` at the edge),
the chance support (``reproduced`` or ``partly`` when flat) and the power (``reproduced`` under the effect);
``benchmarks/verdict_calibration.py`` writes it to ``book/_generated/`` (:func:`write_table`), which the book page
"How verdicts are computed" includes and a paper's page filters (:func:`committed_table`). Every simulation is
seeded by the scenario's chapter and claim, so the same draws give the same table and adding a scenario changes
no other row.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import verdicts as V

__all__ = [
    "MODES",
    "SCALES",
    "NOISE",
    "Scenario",
    "SCENARIOS",
    "register_scenarios",
    "all_scenarios",
    "simulate",
    "calibration_table",
    "markdown_table",
    "write_table",
    "committed_table",
    "read_table",
    "TABLE_CSV",
    "TABLE_MD",
    "curves",
    "per_line",
    "sign_settings",
    "equivalence",
    "linear",
    "saturating",
    "curve_rule",
    "v_means",
    "order",
    "best",
    "equivalence_settings",
    "equal_means",
    "weak_correlation",
]

MODES = ("edge", "flat", "effect")
SCALES = ("course", "paper")
CHUNK = 1000  # draws simulated at once (bounds memory: a 13-setting grid of 20 runs is ~30 MB per 1,000 draws)
# Run-to-run standard deviation of each metric (one run = one seed/class assignment), per scale. Course: the
# 540-image test split of the 8×8 digits (a group of ~270 images moves a prediction rate by ~0.4 points per
# image) and 3-run Part III chapters on the digits; paper: 10,000-image test sets. Orders of magnitude from the
# fidelity audit, not measured on this book's runs (the rules are fixed before any run is judged). A scenario's
# shape may carry its own ``sd`` instead (a paper's stated spread, or one per setting).
NOISE = {
    "course": {
        "bias_amp": 0.02,
        "accuracy": 0.01,
        "ece": 0.01,
        "method_accuracy": 0.03,
        "rank1": 0.02,
        "protection": 0.05,
        "leakage": 0.03,
    },
    "paper": {
        "bias_amp": 0.005,
        "accuracy": 0.003,
        "ece": 0.003,
        "method_accuracy": 0.01,
        "rank1": 0.005,
        "protection": 0.02,
        "leakage": 0.005,
    },
}
# Leakage (Wang et al. 2019; a run's attacker accuracy averaged over its attacker seeds): course, the spread of
# the stand-in's λ_M and Δ over 3 model runs × 2 attacker seeds (about 3 points); paper, Table 1's intervals over 5
# attacker seeds (±0.3 to ±1.1 points) and an equal model-seed spread. Fixed before any Part II verdict was read.
# "protection": rank-k accuracy of the probes of LowKey's users (Cherepanova ch. 3): ~40 probes per run at course
# (binomial sd up to 8 points, less for paired differences), ~1,000 at paper; orders, fixed before any run.

ROOT = Path(__file__).resolve().parent.parent
TABLE_CSV = ROOT / "book" / "_generated" / "calibration.csv"
TABLE_MD = ROOT / "book" / "_generated" / "calibration.md"


@dataclass(frozen=True)
class Scenario:
    """One claim's rule on simulated runs. ``chapter`` is the chapter's id and ``rule`` the name of the rule in
    ``verdicts.RULES`` that judges the claim; ``draw(rng, draws, shape, sd, mode)`` returns the verdict codes of
    ``draws`` simulated chapters (``mode``: one of ``MODES``); ``shapes`` gives the chapter's shape per scale
    (None: not run there). ``resolvable_at_paper``: the paper preset's design resolves the claim under the
    paper's effect (power ≥ 80%); False where it cannot, by design (the rule then says ``inconclusive``).
    ``source``: the module that registered it (set by :func:`register_scenarios`)."""

    chapter: str
    claim: str
    rule: str
    metric: str
    shapes: dict
    edge: str
    effect: str
    draw: Callable
    resolvable_at_paper: bool = True
    source: str = ""


# --- scenario draws: building blocks for the papers' scenarios -----------------------------------------


def curves(rng, draws, runs, means, sd):
    """(draws, runs, settings) values: ``means`` per setting (broadcast over draws) + cluster effect + noise."""
    means = np.asarray(means, dtype=float)
    cluster = rng.normal(0, sd, (draws, runs, 1))
    return means + cluster + rng.normal(0, sd, (draws, runs, means.shape[-1]))


def per_line(rng, draws, lines, line_codes):
    """Combine ``lines`` independent lines: ``line_codes(line_rng, alpha)`` is re-run from the same seed at
    each level, so both levels judge the same simulated runs."""
    seeds = [int(s) for s in rng.integers(0, 2**63, lines)]
    return V.combine_codes(
        lambda level: np.stack([line_codes(np.random.default_rng(s), level) for s in seeds], axis=-1)
    )


def sign_settings(direction, effect):
    """Sign claim in every setting, one-sided t-tests over runs combined by :func:`verdicts.combine_codes`.
    ``effect`` is one value for each of ``shape["settings"]`` or a sequence, one per setting (then ``sd`` may be
    one per setting too). Effect: every setting at its effect; edge: the first setting at exactly 0, the others
    at their effect; flat: every setting at 0."""

    def draw(rng, draws, shape, sd, mode):
        effects = np.asarray(effect, dtype=float)
        if effects.ndim == 0:
            effects = np.full(shape["settings"], float(effect))
        means = np.zeros_like(effects) if mode == "flat" else effects.copy()
        if mode == "edge":
            means[0] = 0.0
        noise = np.reshape(np.asarray(sd, dtype=float), (-1, 1)) * rng.normal(0, 1, (draws, len(means), shape["runs"]))
        d = means[:, None] + noise
        return V.combine_codes(lambda level: V.sign_codes(d, direction, level))

    return draw


def equivalence(tolerance):
    """≈ 0: the truth is 0 under the effect and on the edge of the band (+tolerance) otherwise ("flat" is
    the edge too: here no effect is what the claim says)."""

    def draw(rng, draws, shape, sd, mode):
        d = (0.0 if mode == "effect" else tolerance) + rng.normal(0, sd, (draws, shape["runs"]))
        return V.equivalence_codes(d, tolerance)

    return draw


def linear(rise):
    """Rises by ``rise`` over the grid under the effect; flat otherwise (the edge of a trend claim)."""

    def means(m, mode):
        return np.linspace(0, rise, m) if mode == "effect" else np.zeros(m)

    return means


def saturating(rise):
    """Rises by ``rise`` over the grid, steeply first (accuracy vs capacity or data); flat without effect."""

    def means(m, mode):
        return rise * (1 - np.exp(-3 * np.linspace(0, 1, m))) / (1 - np.exp(-3)) if mode == "effect" else np.zeros(m)

    return means


def curve_rule(codes_fn, means_fn, **kwargs):
    """A curve rule per ε line, combined over the lines: ``means_fn(m, mode)`` is the true curve."""

    def draw(rng, draws, shape, sd, mode):
        m, runs = shape["settings"], shape["runs"]
        means = means_fn(m, mode)
        return per_line(
            rng,
            draws,
            shape["lines"],
            lambda r, level: codes_fn(curves(r, draws, runs, means, sd), alpha=level, **kwargs),
        )

    return draw


def v_means(depth, optimum):
    """Effect: a v (``optimum="min"``) or peak with its optimum in the middle, both ends ``depth`` away; edge:
    one arm only — the curve moves by ``depth`` over the first half, then stays flat; flat: no optimum."""
    sign = 1 if optimum == "min" else -1

    def means(m, mode):
        t = np.linspace(-1, 1, m)
        curve = {"effect": np.abs(t), "edge": np.where(t < 0, -t, 0.0), "flat": np.zeros(m)}[mode]
        return sign * depth * curve

    return means


def order(gap, depth, optima=("max", "min")):
    """Two curves over a grid of m settings, with independent run noise (the rule's two confidence sets are
    combined by Bonferroni, so their dependence does not matter): under the effect the first curve's optimum is
    ``gap`` (as a share of the grid) below the second's; at the edge both optima coincide; flat: both curves
    are flat. Each curve is quadratic around its optimum, ``depth`` away from it at half the grid's width."""

    def draw(rng, draws, shape, sd, mode):
        m, runs = shape["settings"], shape["runs"]
        t = np.linspace(0, 1, m)
        half_gap = gap / 2 if mode == "effect" else 0.0
        scale = 0.0 if mode == "flat" else depth
        first = -scale * ((t - 0.5 + half_gap) / 0.5) ** 2 * (1 if optima[0] == "max" else -1)
        second = scale * ((t - 0.5 - half_gap) / 0.5) ** 2 * (1 if optima[1] == "min" else -1)

        def line(r, level):
            shared = r.normal(0, sd, (draws, runs, 1))
            ya = first + shared + r.normal(0, sd, (draws, runs, m))
            yb = (
                second
                + r.normal(0, shape["sd_second"], (draws, runs, 1))
                + r.normal(0, shape["sd_second"], (draws, runs, m))
            )
            return V.order_codes((t, ya), (t, yb), optima, level)

        return per_line(rng, draws, shape["lines"], line)

    return draw


def best(*settings, method="gba", direction=1):
    """``method`` is the best of all methods in every setting (higher is better; ``direction=-1``: lower); each
    setting is (the paper's means per method, the runner-up). The edge puts ``method`` on its runner-up's mean in
    the first setting; flat: every method on the runner-up's mean everywhere. Runs share a seed effect across
    methods (paired); settings are combined by :func:`verdicts.combine_codes`."""

    def draw(rng, draws, shape, sd, mode):
        diffs = []
        for i, (method_means, runner_up) in enumerate(settings):
            means = dict(method_means)
            if mode == "edge" and i == 0:
                means[method] = means[runner_up]
            elif mode == "flat":
                means = dict.fromkeys(means, means[runner_up])
            runs = shape["runs"]
            seed_effect = rng.normal(0, sd, (draws, runs))
            values = {m: means[m] + seed_effect + rng.normal(0, sd, (draws, runs)) for m in means}
            diffs.append(np.stack([values[method] - values[m] for m in means if m != method], axis=1))
        return V.combine_codes(lambda level: np.stack([V.best_codes(d, direction, level) for d in diffs], axis=-1))

    return draw


def equivalence_settings(tolerance):
    """≈ 0 in every one of ``settings`` (TOST per setting, combined): effect, all at 0; edge, one setting on the
    band's edge (+tolerance) and the others at 0; flat (no support anywhere), every setting on the edge. Values
    are paired differences of two runs, so their spread is √2 times the metric's."""

    def draw(rng, draws, shape, sd, mode):
        k, runs = shape["settings"], shape["runs"]
        means = np.full(k, tolerance) if mode == "flat" else np.zeros(k)
        if mode == "edge":
            means[0] = tolerance
        d = means[:, None] + rng.normal(0, np.sqrt(2) * sd, (draws, k, runs))
        return V.combine_codes(lambda level: V.equivalence_codes(d, tolerance, level))

    return draw


def equal_means(tolerance, sd_second):
    """Two independent samples with equal means up to ±``tolerance`` (H-RQ1: BiasAmp at ε = ½ against
    −(1 − recognition accuracy) of separate recognisers): equal under the effect, ``tolerance`` apart at the edge
    and under "flat" (no link)."""

    def draw(rng, draws, shape, sd, mode):
        gap = 0.0 if mode == "effect" else tolerance
        a = gap + rng.normal(0, sd, (draws, shape["runs"]))
        b = rng.normal(0, sd_second, (draws, shape["runs"]))
        return V.difference_equivalence_codes(a, b, tolerance)

    return draw


def weak_correlation(rho_effect, bands):
    """Per ε line, per run: the Spearman correlation of two metrics over the run's m capacity settings, drawn
    from a bivariate normal with correlation ρ (effect: ``rho_effect``; edge: ½, the boundary of "weak";
    flat: 0), judged by ``within_bands`` and combined over the lines."""

    def draw(rng, draws, shape, sd, mode):
        rho = {"effect": rho_effect, "edge": 0.5, "flat": 0.0}[mode]
        runs, m = shape["runs"], shape["settings"]

        def line(r, level):
            x = r.normal(0, 1, (draws, runs, m))
            y = rho * x + np.sqrt(1 - rho**2) * r.normal(0, 1, (draws, runs, m))
            rx, ry = x.argsort(-1).argsort(-1), y.argsort(-1).argsort(-1)
            rx, ry = rx - rx.mean(-1, keepdims=True), ry - ry.mean(-1, keepdims=True)
            spearman = (rx * ry).sum(-1) / np.sqrt((rx**2).sum(-1) * (ry**2).sum(-1))
            return V.band_codes(spearman, bands, level)

        return per_line(rng, draws, shape["lines"], line)

    return draw


SCENARIOS: list[Scenario] = []


def register_scenarios(*scenarios: Scenario, source: str) -> None:
    """Add a paper's scenarios to ``SCENARIOS``; a paper's package calls this on import with ``source=__name__``
    (its calibration module), so the core never imports a paper."""
    for scenario in scenarios:
        scenario = dataclasses.replace(scenario, source=source)
        if scenario not in SCENARIOS:
            SCENARIOS.append(scenario)


def all_scenarios() -> list[Scenario]:
    """Every registered scenario (the papers are loaded first), in the book's order of chapters."""
    from .chapters import chapters

    order = {chapter_id: i for i, chapter_id in enumerate(chapters())}
    return sorted(SCENARIOS, key=lambda s: order.get(s.chapter, len(order)))


def _stream(scenario: Scenario, scale: str, mode: str, seed: int) -> np.random.SeedSequence:
    """The seed of one cell: ``seed`` and the scenario's chapter, claim, scale and mode (not its position)."""
    key = zlib.crc32(f"{scenario.chapter}|{scenario.claim}".encode())
    return np.random.SeedSequence([seed, key, SCALES.index(scale), MODES.index(mode)])


def simulate(scenario: Scenario, scale: str, mode: str, draws: int = 1000, seed: int = 0) -> np.ndarray:
    """Verdict codes (``verdicts.CODES``) of ``draws`` simulated chapters of ``scenario`` at ``scale``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    shape = scenario.shapes[scale]
    if shape is None:
        raise ValueError(f"{scenario.claim!r} is not run at {scale}")
    sd = shape["sd"] if "sd" in shape else NOISE[scale][scenario.metric]
    sizes = [CHUNK] * (draws // CHUNK) + ([draws % CHUNK] if draws % CHUNK else [])
    streams = _stream(scenario, scale, mode, seed).spawn(len(sizes))
    return np.concatenate(
        [scenario.draw(np.random.default_rng(s), n, shape, sd, mode) for s, n in zip(streams, sizes, strict=True)]
    )


def _rate(codes: np.ndarray, verdicts) -> float:
    return float(np.isin(codes, [V.CODES.index(v) for v in verdicts]).mean())


def calibration_table(draws: int = 1000, seed: int = 0, scenarios=None) -> pd.DataFrame:
    """One row per scenario (default: every registered one): its chapter, claim, rule, metric and source, and per
    scale its runs per setting, **FP** (the rate of ``reproduced`` at the edge), **chance support** (the rate of
    ``reproduced`` or ``partly`` with no effect anywhere) and **power** (the rate of ``reproduced`` under the
    paper's effect), over ``draws`` seeded draws each; NaN where the scenario is not run at that scale."""
    rows = []
    for scenario in all_scenarios() if scenarios is None else scenarios:
        row = {k: getattr(scenario, k) for k in ("chapter", "claim", "rule", "metric", "source")}
        for scale in SCALES:
            shape = scenario.shapes[scale]
            codes = {m: simulate(scenario, scale, m, draws, seed) for m in MODES} if shape else None
            row[f"{scale} runs"] = shape["runs"] if shape else None
            row[f"{scale} FP"] = _rate(codes["edge"], [V.REPRODUCED]) if codes else np.nan
            row[f"{scale} chance support"] = _rate(codes["flat"], [V.REPRODUCED, V.PARTLY]) if codes else np.nan
            row[f"{scale} power"] = _rate(codes["effect"], [V.REPRODUCED]) if codes else np.nan
        row["draws"] = draws
        rows.append(row)
    frame = pd.DataFrame(rows)
    for scale in SCALES:
        frame[f"{scale} runs"] = frame[f"{scale} runs"].astype("Int64")
    return frame


RATES = ("FP", "chance support", "power")


def updated_table(prefixes, draws: int, seed: int = 0, csv_path: Path = TABLE_CSV) -> pd.DataFrame:
    """The committed table with the rows of every chapter whose id starts with one of ``prefixes`` computed anew
    (after a change to those chapters' rules or shapes), the other rows kept: a cell's draws are seeded by its
    scenario, scale and mode, never by its position, so a kept row is what a full run would give. The committed
    table must have ``draws`` per cell, so that every row of the result has the same number."""
    committed = read_table(csv_path)
    if set(committed["draws"]) != {draws}:
        raise ValueError(f"draws must be the committed table's ({sorted(set(committed['draws']))}), got {draws}")
    chosen = [s for s in all_scenarios() if s.chapter.startswith(tuple(prefixes))]
    if not chosen:
        raise ValueError(f"chapters: no scenario's chapter starts with any of {list(prefixes)}")
    fresh = calibration_table(draws, seed, chosen).set_index(["chapter", "claim"])
    kept = committed.set_index(["chapter", "claim"])
    order = [(s.chapter, s.claim) for s in all_scenarios()]
    missing = [key for key in order if key not in fresh.index and key not in kept.index]
    if missing:
        raise ValueError(f"scenarios without a committed row (regenerate the whole table): {missing}")
    rows = [fresh.loc[key] if key in fresh.index else kept.loc[key] for key in order]
    return pd.DataFrame(rows).rename_axis(["chapter", "claim"]).reset_index()[committed.columns]


def _display(frame: pd.DataFrame) -> pd.DataFrame:
    """The table as the book shows it: rates in %, "—" and "not run" where a scale has no runs."""
    shown = frame[["chapter", "claim", "rule"]].copy()
    shown["rule"] = "`" + shown["rule"] + "`"
    for scale in SCALES:
        runs = frame[f"{scale} runs"]
        shown[f"{scale} runs"] = [("—" if pd.isna(r) else str(int(r))) for r in runs]
        for rate in RATES:
            shown[f"{scale} {rate}"] = [
                "not run" if pd.isna(v) else f"{v:.1%}" for v in frame[f"{scale} {rate}"].to_numpy()
            ]
    return shown


def _paper_of(chapter: str):
    from .papers import PAPERS

    return next((p for _, p in PAPERS.items() if chapter.startswith(p.prefix)), None) if PAPERS else None


def markdown_table(frame: pd.DataFrame) -> str:
    """The table as Markdown, one table per paper (in the book's order), each headed by the paper and the module
    its scenarios come from; then the number of draws and the Monte-Carlo standard error of a 5% rate."""
    shown = _display(frame)
    lines = []
    for source, part in shown.groupby(frame["source"], sort=False):
        paper = _paper_of(part["chapter"].iloc[0])
        title = paper.title if paper else source
        path = source.replace(".", "/") + ".py"
        lines += [f"**{title}** — scenarios in `{path}`", ""]
        head = ["chapter", "claim", "rule"] + [c for x in SCALES for c in (f"{x} runs", *RATES)]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        cells = part.astype(str).apply(lambda column: column.str.replace("|", "\\|", regex=False))  # "|gap|"
        lines += ["| " + " | ".join(row) + " |" for row in cells.itertuples(index=False)]
        lines.append("")
    draws = int(frame["draws"].min())
    lines.append(
        f"{draws:,} seeded draws per cell; Monte-Carlo standard error of a 5% rate: {np.sqrt(0.05 * 0.95 / draws):.1%}."
    )
    return "\n".join(lines) + "\n"


def write_table(frame: pd.DataFrame, csv_path: Path = TABLE_CSV, md_path: Path = TABLE_MD) -> None:
    """Write the table for the book: the numbers (``csv_path``) and the Markdown the page includes (``md_path``)."""
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(csv_path, index=False, float_format="%.4f")
    md_path.write_text(markdown_table(pd.read_csv(csv_path, dtype={"course runs": "Int64", "paper runs": "Int64"})))


def read_table(csv_path: Path = TABLE_CSV) -> pd.DataFrame:
    """The committed table's numbers."""
    return pd.read_csv(csv_path, dtype={"course runs": "Int64", "paper runs": "Int64"})


def committed_table(prefix: str = "", csv_path: Path = TABLE_CSV) -> pd.DataFrame:
    """The committed table's rows of the chapters whose id starts with ``prefix`` (e.g. ``"K-"``, ``"C-6-CX"``), as
    the book shows them: a paper's page shows its own rows of the one table."""
    frame = read_table(csv_path)
    return _display(frame[frame["chapter"].str.startswith(prefix)]).reset_index(drop=True)
