"""Z-F12 — Choi, Zhang & Liu, Figs. 1–2 and §4.3: predicted against training gender bias per label, for the
baseline and the auxiliary model, and the mean bias amplification of each (16.24% → 7.5%, −53.82%).

The auxiliary model of the figure is the paper's protocol: offline samples (§5), at λ* chosen on the validation
split (``common.select_lambda``). The online variant is shown beside it. Every test number is over the runs'
seeds, methods paired by seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import verdicts as V
from ...artifacts import load_artifact
from ...figures import new_figure
from ...metrics import mean_ci
from .common import ACCURACY_TOLERANCE, ChoiChapter, baseline, chosen, select_lambda
from .labels import PAPER_AMPLIFICATION
from .leakage import RunLeakage

PAPER_ACCURACY = "≈ 85% for both (§4.2)"


def _matrix(part: pd.DataFrame, column: str) -> np.ndarray:
    return np.array(part[column].tolist(), dtype=float)


def _pct(values) -> str:
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)] * 100
    if len(values) == 0:
        return "not run"
    mean, low, high = mean_ci(values)
    return f"{mean:.2f}% ± {(high - low) / 2:.2f}"


class ChoiF12(ChoiChapter):
    id = "Z-F12"
    claim_rules = ("sign", "paired_better", "equivalent_to_zero")
    title = "Figs. 1–2: predicted against training gender bias, baseline and auxiliary model"
    notebook = "choi_f12.md"

    def figure(self, results, config):
        """Left and middle: per label, the predicted bias(o, man) on test (mean ± 95% interval over runs) against
        the training bias, y = x dotted, for the baseline (Fig. 1) and the offline auxiliary model at λ* (Fig. 2).
        Right: mean bias amplification of each model (mean ± 95% interval), the paper's values as squares."""
        fig, axes = new_figure(3, width=4.4, height=4.0)
        panels = [("baseline (Fig. 1)", baseline(results)), ("auxiliary, offline, λ*  (Fig. 2)", None)]
        if not results.empty and "offline" in set(results["sampling"]):
            lam = select_lambda(results, "offline")
            panels[1] = (f"auxiliary, offline, λ* = {lam:g} (Fig. 2)", chosen(results, "offline"))
        objects = config["objects"]
        for ax, (title, part) in zip(axes[0, :2], panels, strict=True):
            ax.plot([0, 1], [0, 1], ":", color="grey", label="y = x")
            if part is not None and len(part):
                x = np.nanmean(_matrix(part, "train_bias"), 0)
                y = _matrix(part, "predicted_bias")
                stats = [mean_ci(col[~np.isnan(col)]) if (~np.isnan(col)).sum() else (np.nan,) * 3 for col in y.T]
                mean = np.array([s[0] for s in stats])
                err = np.array([[s[0] - s[1], s[2] - s[0]] for s in stats]).T
                ax.errorbar(x, mean, yerr=np.nan_to_num(err), fmt="o", capsize=2, label="this run")
                for xi, yi, name in zip(x, mean, objects, strict=True):
                    if not np.isnan(yi):
                        ax.annotate(name, (xi, yi), fontsize=6, xytext=(2, 2), textcoords="offset points")
            ax.set(title=title, xlabel="training gender bias (man)", ylabel="predicted gender bias (man)")
            ax.set(xlim=(0, 1.02), ylim=(0, 1.02))
            ax.legend(fontsize=7, loc="upper left")
        ax = axes[0, 2]
        bars = [("baseline", baseline(results))]
        for sampling in ("offline", "online"):
            if not results.empty and sampling in set(results["sampling"]):
                bars.append((f"aux. {sampling}", chosen(results, sampling)))
        for i, (_, part) in enumerate(bars):
            values = part["bias_amplification"].to_numpy(dtype=float) * 100
            if len(values):
                mean, low, high = mean_ci(values)
                ax.errorbar([i], [mean], yerr=[[mean - low], [high - mean]], fmt="o", capsize=4, color="C0")
        ax.scatter(
            [0, 1],
            [PAPER_AMPLIFICATION["baseline"] * 100, PAPER_AMPLIFICATION["auxiliary"] * 100],
            marker="s",
            color="black",
            label="paper (§4.3)",
            zorder=3,
        )
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_xticks(range(len(bars)), [b[0] for b in bars], fontsize=8)
        ax.set(ylabel="mean bias amplification (%)", title="mean amplification, test")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig

    def prepare(self, results, config):
        """The leakage attackers of every run the page shows (``leakage``), stored as artifacts."""
        self.leakage(results, config)

    def leakage(self, results, config) -> pd.DataFrame:
        """Beyond the paper (``leakage.py``): Wang et al.'s model leakage λ_M, dataset leakage λ_D(F1) and
        Δ = λ_M − λ_D(F1) of the baseline and the offline auxiliary model at λ*, one row per run, beside Zhao et
        al.'s mean amplification; the attackers are stored artifacts."""
        columns = ["model", "run", "bias_amplification", "F1", "leakage_model", "leakage_dataset", "delta"]
        if results.empty or "offline" not in set(results["sampling"]):
            return pd.DataFrame(columns=columns)
        rows = []
        for name, part in (("baseline", baseline(results)), ("auxiliary", chosen(results, "offline"))):
            for _, run in part.iterrows():
                arrays = load_artifact(RunLeakage(run_key=run["key"], seed=int(run["run"])), data_root=None)
                values = [float(arrays[k][0]) for k in ("f1", "model", "dataset", "delta")]
                rows.append([name, run["run"], run["bias_amplification"], *values])
        return pd.DataFrame(rows, columns=columns)

    def claims(self, results, config):
        """Four claims of §4.2–4.3, the auxiliary model being the offline one at λ*:

        - "the baseline amplifies": ``verdicts.sign`` (+) of its mean bias amplification over runs;
        - "towards men": ``verdicts.sign`` (+) of its man shift (mean over labels of predicted − training
          bias(o, man));
        - "the auxiliary loss reduces mean amplification": ``verdicts.paired_better`` of baseline over auxiliary
          amplification, paired by seed (the relative reduction is shown beside the paper's 53.82%);
        - "accuracy is unchanged": ``verdicts.equivalent_to_zero`` of the paired accuracy difference with the band
          ±``ACCURACY_TOLERANCE`` (one point).
        """
        base = baseline(results)
        aux = chosen(results, "offline") if not results.empty else results
        names = (
            "the baseline amplifies the training gender bias",
            "the baseline's predictions lean towards men",
            "the auxiliary loss reduces mean bias amplification",
            "accuracy is unchanged by the auxiliary loss",
        )
        paper = (
            f"mean amplification {PAPER_AMPLIFICATION['baseline']:.2%}",
            "a majority of labels over-classified as male",
            f"{PAPER_AMPLIFICATION['baseline']:.2%} → {PAPER_AMPLIFICATION['auxiliary']:.2%} "
            f"(−{PAPER_AMPLIFICATION['reduction']:.2%})",
            PAPER_ACCURACY,
        )
        if base.empty:
            verdicts = [V.not_run("no baseline runs")] * 4
        else:
            verdicts = [V.sign(base["bias_amplification"], 1), V.sign(base["man_shift"], 1)]
            pairs = base.merge(aux, on="run", suffixes=("_base", "_aux"))
            if pairs.empty:
                verdicts += [V.not_run("no offline auxiliary runs")] * 2
            else:
                better = V.paired_better(
                    {"": pairs["bias_amplification_base"]}, {"": pairs["bias_amplification_aux"]}, higher=True
                )
                drop = 1 - pairs["bias_amplification_aux"].mean() / pairs["bias_amplification_base"].mean()
                lam = select_lambda(results, "offline")
                detail = f"λ* = {lam:g}; base − aux {better.measured.removeprefix(': ')}; relative {drop:+.1%}"
                verdicts.append(V.Verdict(better.verdict, detail))
                same = V.equivalent_to_zero(pairs["accuracy_aux"] - pairs["accuracy_base"], ACCURACY_TOLERANCE)
                accuracy = f"{pairs['accuracy_base'].mean():.2%} vs {pairs['accuracy_aux'].mean():.2%}"
                verdicts.append(V.Verdict(same.verdict, f"{accuracy}; aux − base {same.measured}"))
        return pd.DataFrame(
            [
                {"claim": c, "paper": p, "measured": v.measured, "verdict": v.verdict}
                for c, p, v in zip(names, paper, verdicts, strict=True)
            ]
        )

    def summary(self, results, config):
        """Test amplification and accuracy of each model (mean ± 95% half-interval), λ* per sampling mode, the
        relative reduction of the offline model, the labels the baseline pushes furthest towards men, and Wang et
        al.'s Δ of the baseline and the offline auxiliary model; and the open choices (``ChoiChapter.choices``)."""
        keys = (
            "amp_base",
            "amp_aux",
            "amp_online",
            "acc_base",
            "acc_aux",
            "lam_offline",
            "lam_online",
            "reduction",
            "most_amplified",
            "delta_base",
            "delta_aux",
        )
        if results.empty:
            return {**self.choices(config), **dict.fromkeys(keys, "not run")}
        base = baseline(results)
        out = {**self.choices(config), "amp_base": _pct(base["bias_amplification"]), "acc_base": _pct(base["accuracy"])}
        for sampling, key in (("offline", "aux"), ("online", "online")):
            part = chosen(results, sampling) if sampling in set(results["sampling"]) else results.iloc[:0]
            out[f"amp_{key}"] = _pct(part["bias_amplification"])
            lam = select_lambda(results, sampling)
            out[f"lam_{sampling}"] = "not run" if lam is None else f"{lam:g}"
            if key == "aux":
                out["acc_aux"] = _pct(part["accuracy"])
                reduction = 1 - part["bias_amplification"].mean() / base["bias_amplification"].mean()
                out["reduction"] = f"{reduction:.1%}" if len(part) else "not run"
        leakage = self.leakage(results, config)
        for name, key in (("baseline", "delta_base"), ("auxiliary", "delta_aux")):
            out[key] = _pct(leakage.loc[leakage["model"] == name, "delta"])
        shift = np.nanmean(_matrix(base, "predicted_bias") - _matrix(base, "train_bias"), 0)
        top = np.argsort(-np.nan_to_num(shift, nan=-np.inf))[:3]
        out["most_amplified"] = ", ".join(f"{config['objects'][i]} ({shift[i]:+.2f})" for i in top)
        return out


CHAPTER = ChoiF12()
