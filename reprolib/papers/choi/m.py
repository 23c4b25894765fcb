"""Z-M — Choi, Zhang & Liu, §3.2–3.3 and §5: the descriptive model behind the auxiliary loss, and λ.

The same runs as Z-F12 (``common.ChoiChapter``); the descriptive models are the stored artifacts those runs
learned (``descriptive.DescriptiveModel``, one per task and seed), read back here, never learned twice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import verdicts as V
from ...artifacts import load_artifact
from ...chapter import run_ids
from ...figures import mean_band, new_figure
from .common import ChoiChapter, baseline, chosen, select_lambda, task_spec
from .embeddings import standardised

ONLINE_CLAIM = "fresh samples every epoch (online) lower amplification further than one offline set"
ONLINE_PAPER = '"would likely result in a performance increase" (§5); not run by the paper'


def _mean(values) -> str:
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.4g}" if len(values) else "not run"


class ChoiM(ChoiChapter):
    id = "Z-M"
    claim_rules = ("trend", "paired_better")
    title = "§3.2–3.3: the descriptive model, its samples, and λ"
    notebook = "choi_m.md"

    def descriptive_arrays(self, config) -> list[dict[str, np.ndarray]]:
        """The stored descriptive model of every seed (learned by the auxiliary runs; computed here if absent)."""
        task, spec = task_spec(config), self.descriptive(config)
        return [load_artifact(spec.for_run(task, r), data_root=config.get("coco_root")) for r in run_ids(config)]

    def curve_frame(self, results: pd.DataFrame) -> pd.DataFrame:
        """Per sampling mode, the validation metrics against λ, the baseline's runs standing at λ = 0."""
        base = baseline(results)
        parts = []
        for sampling in sorted(set(results["sampling"]) - {"none"}):
            aux = results[results["sampling"] == sampling]
            parts.append(pd.concat([base, aux]).assign(line=sampling))
        return pd.concat(parts) if parts else results.assign(line=[])

    def figure(self, results, config):
        """(a) mean energy U of the observed batch and of the synthetic chains while the descriptive model learns
        (mean and 95% band over seeds); (b) real training embeddings and the offline synthetic samples of seed 0
        on the real embeddings' first two principal axes; (c, d) validation amplification and accuracy against
        λ (λ = 0: the baseline), one line per sampling mode, mean and 95% band over seeds."""
        fig, axes = new_figure(4, width=3.9, height=3.4)
        arrays = self.descriptive_arrays(config)
        ax = axes[0, 0]
        for name, key in (("observed", "observed_energy"), ("synthetic", "synthetic_energy")):
            frame = pd.DataFrame(
                [{"iteration": i + 1, "U": u, "run": r} for r, a in enumerate(arrays) for i, u in enumerate(a[key])]
            )
            mean_band(ax, frame, "iteration", "U", label=name, marker="")
        ax.set(xlabel="learning iteration", ylabel="mean energy U", title="(a) learning the descriptive model")
        ax.legend(fontsize=7)
        ax = axes[0, 1]
        real = standardised(task_spec(config).build(config.get("coco_root")), "train").numpy()
        real = real[np.random.default_rng(0).permutation(len(real))[:1500]]
        centre = real.mean(0)
        axes_pc = np.linalg.svd(real - centre, full_matrices=False)[2][:2]
        for name, points, colour in (("real", real, "C0"), ("synthetic", arrays[0]["samples"], "C1")):
            xy = (points - centre) @ axes_pc.T
            ax.scatter(xy[:, 0], xy[:, 1], s=3, alpha=0.4, color=colour, label=name)
        ax.set(xlabel="PC 1", ylabel="PC 2", title="(b) real vs synthetic embeddings")
        ax.legend(fontsize=7, markerscale=3)
        curves = self.curve_frame(results)
        panels = (("val_bias_amplification", "mean bias amplification"), ("val_accuracy", "accuracy"))
        for ax, (column, label) in zip(axes[0, 2:], panels, strict=True):
            for line, part in curves.groupby("line"):
                mean_band(ax, part, "lam", column, label=line)
            ax.set(xlabel="λ", ylabel=f"{label} (validation)")
            ax.set_xscale("symlog", linthresh=min(config["lambdas"]) if min(config["lambdas"]) > 0 else 0.1)
            ax.legend(fontsize=7)
        axes[0, 2].set_title("(c) amplification against λ")
        axes[0, 3].set_title("(d) accuracy against λ")
        fig.tight_layout()
        return fig

    def claims(self, results, config):
        """Three claims. "λ balances the trade-off between the main task and the auxiliary tasks" (§3.2), read as
        two trends on validation over λ (the baseline at λ = 0), offline samples, every seed a cluster:
        amplification falls with λ and accuracy falls with λ (``verdicts.trend``, direction −1 each). "Online
        sampling would improve" (§5): ``verdicts.paired_better`` of offline over online test amplification, each
        at its own λ*, paired by seed."""
        rows = []
        curves = self.curve_frame(results) if not results.empty else results
        offline = curves[curves["line"] == "offline"] if "line" in curves else curves.iloc[:0]
        for column, what in (("val_bias_amplification", "amplification"), ("val_accuracy", "accuracy")):
            claim = f"a larger λ lowers {what} (λ trades the main task against the auxiliary tasks)"
            if offline.empty:
                verdict = V.not_run("no offline auxiliary runs")
            else:
                verdict = V.trend(offline["lam"], offline[column], offline["run"], direction=-1)
            rows.append((claim, "λ balances the trade-off (§3.2); no numbers", verdict))
        modes = set(results["sampling"]) if not results.empty else set()
        if {"offline", "online"} <= modes:
            pairs = chosen(results, "offline").merge(chosen(results, "online"), on="run", suffixes=("_off", "_on"))
            better = V.paired_better(
                {"": pairs["bias_amplification_off"]}, {"": pairs["bias_amplification_on"]}, higher=True
            )
            lams = f"λ* offline {select_lambda(results, 'offline'):g}, online {select_lambda(results, 'online'):g}"
            verdict = V.Verdict(better.verdict, f"{lams}; offline − online {better.measured.removeprefix(': ')}")
        else:
            verdict = V.not_run("needs sampling = offline and online")
        rows.append((ONLINE_CLAIM, ONLINE_PAPER, verdict))
        return pd.DataFrame(
            [{"claim": c, "paper": p, "measured": v.measured, "verdict": v.verdict} for c, p, v in rows]
        )

    def summary(self, results, config):
        """The final energy of observed and synthetic embeddings (mean over seeds), the λ* of each sampling mode
        and its test amplification (mean over seeds); and the open choices (``ChoiChapter.choices``)."""
        keys = ("energy_observed", "energy_synthetic", "lam_offline", "lam_online", "amp_offline", "amp_online")
        if results.empty:
            return {**self.choices(config), **dict.fromkeys(keys, "not run")}
        arrays = self.descriptive_arrays(config)
        out = {
            **self.choices(config),
            "energy_observed": _mean([a["observed_energy"][-1] for a in arrays]),
            "energy_synthetic": _mean([a["synthetic_energy"][-1] for a in arrays]),
        }
        for sampling in ("offline", "online"):
            lam = select_lambda(results, sampling)
            out[f"lam_{sampling}"] = "not run" if lam is None else f"{lam:g}"
            part = chosen(results, sampling) if lam is not None else results.iloc[:0]
            out[f"amp_{sampling}"] = f"{part['bias_amplification'].mean():.2%}" if len(part) else "not run"
        return out


CHAPTER = ChoiM()
