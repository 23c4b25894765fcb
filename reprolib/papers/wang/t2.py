"""W-T2 — Wang et al. (2019), Table 2: is the model-leakage estimate robust to the attacker?

The attacker of §4.1 (4 layers, 300 units, all the balanced training rows) against shallower and narrower ones
and against less data (75%, 50%, 25% of the rows), every one reading the same stored logits of W-T1's "no
gender" models (the same run specs, so the same stored runs). The paper: "Except an attacker with 1-layer, none
of the others vary in their estimation of leakage by more than 2 points" (§4, "Attacker Learning is Robust").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import params as P
from ... import verdicts as V
from ...chapter import ParameterError, run_ids
from ...metrics import mean_ci
from ...store import current_store
from .attackers import SOURCES, ModelLeakage, load_stored, stored_attackers
from .t1 import CHAPTER as T1
from .t1 import (
    LEAKAGE_TOLERANCE,
    DataChapter,
    _frame,
    _pct,
    _prefix,
    attacker_settings,
    no_results,
    run_values,
    split_specs,
)

__all__ = ["WangT2", "CHAPTER", "VARIANTS", "REFERENCE"]

# name → (depth, hidden, fraction of the training rows), Table 2's rows in order; "1-layer" has no hidden layer
VARIANTS = {
    "1-layer": (1, 300, 1.0),
    "2x100": (2, 100, 1.0),
    "2x300": (2, 300, 1.0),
    "4x300": (4, 300, 1.0),
    "4x300@75%": (4, 300, 0.75),
    "4x300@50%": (4, 300, 0.5),
    "4x300@25%": (4, 300, 0.25),
}
REFERENCE = "4x300"  # the attacker of §4.1 and of every other table
PAPER = {  # Table 2, model leakage on the original COCO (%)
    "1-layer": "68.82 ± 0.35",
    "2x100": "70.83 ± 0.58",
    "2x300": "71.03 ± 0.52",
    "4x300": "70.46 ± 0.36",
    "4x300@75%": "69.93 ± 0.51",
    "4x300@50%": "69.89 ± 0.98",
    "4x300@25%": "68.54 ± 1.10",
}
SHARED = ("dataset", "runs", "attacker_runs", "epochs", "lr", "attacker_epochs", "attacker_lr", "size", "men", "model")


class WangT2(DataChapter):
    id = "W-T2"
    claim_rules = ("equivalent_to_zero", "sign")
    title = "Table 2: the leakage estimate against the attacker's depth, width and data"
    notebook = "wang_t2.md"
    presets = {
        name: {**{k: T1.presets[name][k] for k in SHARED}, "variants": list(VARIANTS), "source": "train"}
        for name in ("smoke", "course", "paper")
    }
    parameters = {
        "variants": P.choices(*VARIANTS),
        "source": P.choice(*SOURCES),
        **{k: T1.parameters[k] for k in SHARED[:1]},
        "coco_root": P.folder,
        **{k: T1.parameters[k] for k in SHARED[1:]},
    }

    def check(self, config):
        super().check(config)
        if REFERENCE not in config["variants"]:
            got = config["variants"]
            raise ParameterError(f"variants must include the reference attacker {REFERENCE!r}, got {got}")

    def specs(self, config):
        """W-T1's "no gender" runs for this configuration (the same keys: trained once for both chapters)."""
        tags, task, method = next(s for s in split_specs(self.reference_config(config)) if s[0]["split"] == "no gender")
        return [self.logits_run(config, tags, task, method, seed) for seed in run_ids(config)]

    def results(self, config, store=None, specs=None) -> pd.DataFrame:
        """One row per (run, attacker seed, variant): λ_M of a stored attacker with the variant's settings."""
        store = store or current_store()
        specs = specs if specs is not None else self.specs(config)
        runs = super().results(config, store, specs)
        if runs.empty:
            return pd.DataFrame(columns=["variant", "run", "attacker", "lambda_M"])
        rows = []
        with stored_attackers(store):
            for spec in specs:
                if spec.key not in set(runs["key"]):
                    continue
                for a in range(config["attacker_runs"]):
                    for name in config["variants"]:
                        depth, hidden, fraction = VARIANTS[name]
                        attacker = ModelLeakage(
                            run=spec.key,
                            source=config["source"],
                            depth=depth,
                            hidden=hidden,
                            fraction=fraction,
                            **attacker_settings(config, a),
                        )
                        loaded = load_stored(attacker)
                        if loaded is None:
                            continue
                        accuracy = float(loaded[0]["accuracy"])
                        rows.append({"variant": name, "run": spec.seed, "attacker": a, "lambda_M": accuracy})
        return pd.DataFrame(rows)

    def table(self, results, config) -> pd.DataFrame:
        """Table 2's layout: per attacker, λ_M as mean ± 95% half-interval over (run, attacker seed) in %, beside
        the paper's."""
        rows = []
        for name in config["variants"]:
            cell = results[results["variant"] == name]
            depth, hidden, fraction = VARIANTS[name]
            described = f"{depth} layer, {'-' if depth == 1 else f'{hidden} dim'}, {fraction:.0%} data"
            row = {"attacker": described, "λ_M (this run)": _pct(cell["lambda_M"]), "λ_M (paper, COCO)": PAPER[name]}
            rows.append(row)
        return pd.DataFrame(rows)

    def figure(self, results, config):
        """λ_M per attacker, mean and 95% interval, the reference's ±2-point band shaded."""
        fig, ax = self.result_panel(results, config, 6.5, 3.4)
        if results.empty:
            return fig
        stats = [mean_ci(results.loc[results["variant"] == v, "lambda_M"].to_numpy()) for v in config["variants"]]
        means = np.array([m for m, _, _ in stats])
        errors = [[m - lo for m, lo, _ in stats], [hi - m for m, _, hi in stats]]
        x = np.arange(len(stats))
        ax.errorbar(x, means, yerr=errors, fmt="o", capsize=3, label="this run")
        reference = means[config["variants"].index(REFERENCE)]
        band = (reference - LEAKAGE_TOLERANCE, reference + LEAKAGE_TOLERANCE)
        ax.axhspan(*band, color="grey", alpha=0.2, label=f"{REFERENCE} ± {LEAKAGE_TOLERANCE * 100:g} points")
        ax.set_xticks(x, config["variants"], fontsize=8)
        ax.set(ylabel="model leakage λ_M", xlabel="attacker")
        ax.legend(fontsize=8)
        fig.tight_layout()
        return fig

    def claims(self, results, config):
        """1. "Stable within ~2 points, except the 1-layer attacker": ``verdicts.combine`` of
        ``equivalent_to_zero`` (band ±``LEAKAGE_TOLERANCE``) on λ_M(variant) − λ_M(4x300) per run (averaged
        over attacker seeds), for every variant but the reference and the 1-layer one. 2. "The 1-layer attacker
        estimates less": ``verdicts.sign`` of λ_M(4x300) − λ_M(1-layer) over runs."""
        stable = f"the estimate is stable within ±{LEAKAGE_TOLERANCE * 100:g} points, except the 1-layer attacker"
        shallow = "the 1-layer attacker estimates less leakage than the 4-layer one"
        if results.empty:
            why = no_results(config)
            return _frame([(stable, "", V.not_run(why)), (shallow, "", V.not_run(why))])
        values = {v: run_values(results[results["variant"] == v], "lambda_M") for v in config["variants"]}
        reference = values[REFERENCE]
        others = {
            v: ((s - reference.loc[s.index]).to_numpy(),) for v, s in values.items() if v not in (REFERENCE, "1-layer")
        }
        verdict = (
            V.combine(V.equivalent_to_zero, others, tolerance=LEAKAGE_TOLERANCE)
            if others
            else V.not_run("no variant but the reference and the 1-layer attacker")
        )
        rows = [(stable, "68.54 to 71.03 (COCO)", _prefix(verdict, "λ_M(variant) − λ_M(4x300)"))]
        if "1-layer" in values:
            gap = (reference - values["1-layer"].loc[reference.index]).to_numpy()
            rows.append((shallow, "70.46 vs 68.82", _prefix(V.sign(gap, 1), "λ_M(4x300) − λ_M(1-layer)")))
        else:
            rows.append((shallow, "70.46 vs 68.82", V.not_run("1-layer not in variants")))
        return _frame(rows)

    def summary(self, results, config):
        """The reference's λ_M and the largest gap of another attacker to it (points)."""
        if results.empty:
            return {"reference": "not run", "largest_gap": "not run", "largest_variant": "not run"}
        means = results.groupby("variant")["lambda_M"].mean()
        gaps = (means - means[REFERENCE]).drop(REFERENCE).abs()
        return {
            "reference": _pct(results.loc[results["variant"] == REFERENCE, "lambda_M"]),
            "largest_gap": f"{gaps.max() * 100:.1f} points" if len(gaps) else "—",
            "largest_variant": gaps.idxmax() if len(gaps) else "—",
        }


CHAPTER = WangT2()
