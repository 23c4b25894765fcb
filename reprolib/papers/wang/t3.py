"""W-T3 — Wang et al. (2019), Table 3: a model that predicts gender jointly with the labels, RBA against
adversarial removal.

The paper's "original CRF" is Zhao et al. (2017)'s CRF predicting COCO objects and gender; RBA decodes it under
corpus-level constraints on the predicted gender ratio of every label; "CRF + adv" combines it with the
adversarially debiased model. Here the joint model is W-T1's "original" run (``MultiLabelBCE(gender=True)``:
unary scores, no pairwise terms), decoded by ``rba.joint_decode`` or ``rba.rba_decode``; "joint + adv" takes its
label scores from W-T45's adversarial removal at conv5 (the λ chosen on dev there) and its gender score from the
joint model. Every row's attacker reads the *decoded* 0/1 label vectors (RBA's output is discrete), stored as
``attackers.DecodedLeakage``; λ_D(F1) is at the decoded test F1.
"""

from __future__ import annotations

import pandas as pd

from ... import params as P
from ... import verdicts as V
from ...metrics import mean_ci
from ...store import current_store
from .attackers import DatasetLeakage, DecodedLeakage, load_stored, stored_attackers
from .t1 import CHAPTER as T1
from .t1 import LEAKAGE_TOLERANCE, DataChapter, _frame, _pct, _prefix, attacker_settings, no_results, run_values
from .t45 import CHAPTER as T45
from .t45 import choose

__all__ = ["WangT3", "CHAPTER"]

PAPER = {  # Table 3 (COCO, %): λ_M(F1), λ_D(F1), Δ, mAP, F1
    "joint": (73.20, 60.35, 12.85, 57.77, 52.53),
    "joint + RBA": (73.31, 60.16, 13.15, 56.46, 51.28),
    "joint + adv": (65.00, 60.19, 4.81, 56.68, 51.48),
}
ROWS = tuple(PAPER)


class WangT3(DataChapter):
    id = "W-T3"
    claim_rules = ("sign", "equivalent_to_zero")
    title = "Table 3: RBA against adversarial removal for a model predicting gender jointly"
    notebook = "wang_t3.md"
    presets = {
        name: {
            "margin": 0.05,  # Zhao et al. (2017): γ = 0.05
            "steps": 200,
            **{k: v for k, v in T45.presets[name].items() if k not in ("layers", "sigmas")},
        }
        for name in ("smoke", "course", "paper")
    }
    parameters = {
        "margin": P.number(0, 1, open_high=True),
        "steps": P.integer(1, 100_000),
        **{k: v for k, v in T45.parameters.items() if k not in ("layers", "sigmas", "imsitu_root")},
        "dataset": T1.parameters["dataset"],  # Table 3 is COCO's
    }

    def _t45_config(self, config) -> dict:
        return {**config, "layers": ["conv5"], "sigmas": [0.0]}

    def _joint_specs(self, config):
        t1 = {**self.reference_config(config), "sources": ["train"]}
        return [s for s in T1.specs(t1) if s.tags["split"] == "original"]

    def _adversarial_specs(self, config):
        return [s for s in T45.specs(self._t45_config(config)) if s.tags["method"] in ("original", "adv@conv5")]

    def specs(self, config):
        """W-T1's joint runs, W-T45's original runs and its adversarial runs at conv5 (every λ, to choose on dev)."""
        return [*self._joint_specs(config), *self._adversarial_specs(config)]

    def results(self, config, store=None, specs=None) -> pd.DataFrame:
        """One row per (row of Table 3, run, attacker seed): λ_M, λ_D(F1), Δ, F1 of the decoded labels and the
        mean gap |b̂_k − b_k| of the predicted gender ratios to the training ones."""
        store = store or current_store()
        columns = ["method", "run", "attacker", "lambda_M", "lambda_D_F1", "delta", "F1", "violation"]
        adversarial = self._adversarial_specs(config)
        leakage = T45.results(self._t45_config(config), store, adversarial)
        joint = {s.seed: s for s in self._joint_specs(config) if store.is_done(s.key)}
        if leakage.empty or not joint:
            return pd.DataFrame(columns=columns)
        lam = choose(leakage, "adv@conv5", config["max_f1_drop"])
        debiased = {s.seed: s for s in adversarial if s.tags["method"] == "adv@conv5" and s.tags["setting"] == lam}
        rows = []
        with stored_attackers(store):
            for seed, spec in joint.items():
                for a in range(config["attacker_runs"]):
                    settings = attacker_settings(config, a)
                    variants = {
                        "joint": DecodedLeakage(run=spec.key, **settings),
                        "joint + RBA": DecodedLeakage(
                            run=spec.key, decoding="rba", margin=config["margin"], steps=config["steps"], **settings
                        ),
                    }
                    if seed in debiased and store.is_done(debiased[seed].key):
                        variants["joint + adv"] = DecodedLeakage(
                            run=spec.key, labels_run=debiased[seed].key, **settings
                        )
                    for name, attacker in variants.items():
                        decoded = load_stored(attacker)
                        if decoded is None:
                            continue
                        out, f1 = decoded[0], float(decoded[0]["F1"])
                        calibrated = load_stored(
                            DatasetLeakage(task=spec.task, f1=round(max(f1, 0.001), 3), **settings)
                        )
                        if calibrated is None:
                            continue
                        data = calibrated[0]
                        rows.append(
                            {
                                "method": name,
                                "run": seed,
                                "attacker": a,
                                "lambda_M": float(out["accuracy"]),
                                "lambda_D_F1": float(data["accuracy"]),
                                "delta": float(out["accuracy"]) - float(data["accuracy"]),
                                "F1": f1,
                                "violation": float(out["violation"]),
                                "rba_steps": int(out["steps"]),
                                "lam": lam,
                            }
                        )
        return pd.DataFrame(rows)

    def table(self, results, config) -> pd.DataFrame:
        """Table 3's layout (mean ± 95% half-interval, %), beside the paper's COCO row."""
        rows = []
        for name in ROWS:
            cell = results[results["method"] == name]
            if cell.empty:
                continue
            paper = PAPER[name]
            rows.append(
                {
                    "method": name,
                    "λ_M(F1)": _pct(cell["lambda_M"]),
                    "λ_D(F1)": _pct(cell["lambda_D_F1"]),
                    "Δ": _pct(cell["delta"]),
                    "F1": _pct(cell["F1"]),
                    "|b̂ − b| (ratio gap)": _pct(cell["violation"]),
                    "paper: λ_M / λ_D / Δ / F1": f"{paper[0]:.2f} / {paper[1]:.2f} / {paper[2]:.2f} / {paper[4]:.2f}",
                }
            )
        return pd.DataFrame(rows)

    def figure(self, results, config):
        """Δ per row, mean and 95% interval over runs and attacker seeds, beside the paper's."""
        fig, ax = self.result_panel(results, config, 5.5, 3.4)
        if results.empty:
            return fig
        names = [n for n in ROWS if n in set(results["method"])]
        stats = [mean_ci(results.loc[results["method"] == n, "delta"].to_numpy() * 100) for n in names]
        x = range(len(names))
        ax.bar(
            [i - 0.2 for i in x],
            [m for m, _, _ in stats],
            0.4,
            label="this run",
            yerr=[[m - lo for m, lo, _ in stats], [hi - m for m, _, hi in stats]],
            capsize=3,
        )
        ax.bar([i + 0.2 for i in x], [PAPER[n][2] for n in names], 0.4, label="paper (COCO)")
        ax.set_xticks(list(x), names)
        ax.set(ylabel="bias amplification Δ (points)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        return fig

    def claims(self, results, config):
        """1. "Adversarial removal lowers Δ": ``verdicts.sign`` (< 0) of Δ(joint + adv) − Δ(joint) over runs
        (each averaged over attacker seeds). 2. "RBA does not": ``verdicts.equivalent_to_zero`` of
        Δ(joint + RBA) − Δ(joint), band ±``LEAKAGE_TOLERANCE`` — ``by construction`` when RBA took no step in any
        run (its constraints held already, so its predictions are the joint model's)."""
        lowers = "adversarial removal lowers bias amplification of the joint model"
        fails = f"RBA leaves bias amplification unchanged (within ±{LEAKAGE_TOLERANCE * 100:g} points)"
        if results.empty:
            why = no_results(config)
            return _frame([(lowers, "12.85 → 4.81", V.not_run(why)), (fails, "12.85 → 13.15", V.not_run(why))])
        per_run = {n: run_values(results[results["method"] == n], "delta") for n in ROWS}
        base = per_run["joint"]
        rows = []
        adv = per_run["joint + adv"]
        if len(adv):
            verdict = _prefix(V.sign((adv - base.loc[adv.index]).to_numpy(), -1), "Δ(joint + adv) − Δ(joint)")
        else:
            verdict = V.not_run("no adversarial runs")
        rows.append((lowers, "12.85 → 4.81", verdict))
        rba = per_run["joint + RBA"]
        gap = (rba - base.loc[rba.index]).to_numpy()
        verdict = _prefix(V.equivalent_to_zero(gap, LEAKAGE_TOLERANCE), "Δ(RBA) − Δ(joint)")
        steps = results.loc[results["method"] == "joint + RBA", "rba_steps"]
        if len(steps) and (steps == 0).all():  # the joint predictions already meet RBA's constraints
            why = "RBA's constraints already hold on the joint model's predictions, so it changes none of them"
            verdict = V.by_construction(verdict.measured, why)
        rows.append((fails, "12.85 → 13.15", verdict))
        return _frame(rows)

    def summary(self, results, config):
        keys = ("delta_joint", "delta_rba", "delta_adv", "gap_joint", "gap_rba", "lam")
        if results.empty:
            return dict.fromkeys(keys, "not run")
        cell = {n: results[results["method"] == n] for n in ROWS}
        return {
            "delta_joint": _pct(cell["joint"]["delta"]),
            "delta_rba": _pct(cell["joint + RBA"]["delta"]),
            "delta_adv": _pct(cell["joint + adv"]["delta"]),
            "gap_joint": _pct(cell["joint"]["violation"]),
            "gap_rba": _pct(cell["joint + RBA"]["violation"]),
            "lam": f"{results['lam'].iloc[0]:g}",
        }


CHAPTER = WangT3()
