"""W-T1 — Wang et al. (2019), Table 1: dataset leakage, model leakage and bias amplification per training split.

Per split (the "original" model that predicts gender jointly, "no gender", the α-balanced splits of eq. 2, and
the book's control without the unlabelled object): #men and #women of the training split, λ_D (an attacker on
the ground-truth labels), λ_M(F1) (an attacker on the model's pre-activation logits), λ_D(F1) (an attacker on
labels perturbed at random to the model's test F1), Δ = λ_M(F1) − λ_D(F1) (eq. 1), mAP and F1 (§3, §4).

Every model is a stored run that keeps its logits (``RunSpec(keep_outputs=True)``); every leakage is a stored
attacker (``attackers.py``), so each is computed once. Two open choices of the paper are parameters and shown
side by side where they change a verdict: ``sources`` (which logits train the model-leakage attacker,
``attackers.SOURCES``) and ``removals`` (how α-balancing removes images, ``reprolib.multilabel.REMOVALS``).

On the stand-in, g = 1 (the bright person) plays "man" and g = 0 "woman"; ``men`` is the share of g = 1 images
(COCO's training split: 16,225 of 22,826 = 0.71). At ``paper`` the data are COCO 2014 (``real.WangCoco``, from
``coco_root``) and the model ResNet-50 (``resnet50.ImageNetResNet50``); ``size`` and ``men`` then do nothing, and
the control, which needs an image without its unlabelled object, exists on the stand-in only.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ... import params as P
from ... import verdicts as V
from ...chapter import Chapter, run_ids
from ...figures import new_figure
from ...metrics import mean_ci
from ...models import parse_model
from ...multilabel import REMOVALS
from ...specs import TaskSpec
from ...store import RESULTS_ONLY, current_store
from ...sweep import RunSpec
from ...training import Recipe
from .attackers import SOURCES, DatasetLeakage, ModelLeakage, load_stored, stored_attackers
from .real import WangCoco, WangImSitu
from .splits import AlphaBalanced
from .standin import CocoStandIn, MultiLabelBCE

__all__ = [
    "WangT1",
    "CHAPTER",
    "DataChapter",
    "LEAKAGE_TOLERANCE",
    "base_task",
    "attacker_settings",
    "choice_effects",
    "split_specs",
    "leakage_frame",
    "run_values",
]

DATASETS = {"standin": "the stand-in", "coco": "COCO 2014", "imsitu": "imSitu"}


FAMILIES = (
    "Δ > 0 in every split",
    "α-balancing lowers λ_D",
    "α-balancing leaves Δ nearly unchanged",
    "the unlabelled object drives Δ in the balanced split",
)
STANDIN_ONLY = "the control without the unlabelled object exists on the stand-in only"


def no_results(config) -> str:
    """What an empty table or figure says: on real data, that its runs are not in the store."""
    return "no results" if config["dataset"] == "standin" else f"no results on {DATASETS[config['dataset']]} stored"


# "Nearly unchanged": within 2 points of leakage — the paper's own yardstick of a stable leakage estimate (§4,
# "Attacker Learning is Robust": "none of the others vary in their estimation of leakage by more than 2
# points"). Fixed before any run was judged.
LEAKAGE_TOLERANCE = 0.02
# Table 1, COCO (in %): split → (#men, #women, λ_D, λ_M(F1), λ_D(F1), Δ, mAP, F1)
PAPER = {
    "original": (16225, 6601, 67.72, 73.20, 60.35, 12.85, 57.77, 52.52),
    "no gender": (16225, 6601, 67.72, 70.46, 60.53, 9.93, 58.23, 53.75),
    "α=3": (10876, 6598, 62.00, 67.78, 57.50, 10.28, 57.04, 52.60),
    "α=2": (8885, 6588, 56.77, 64.45, 54.72, 9.73, 56.21, 51.95),
    "α=1": (3078, 3078, 53.15, 63.22, 52.85, 10.37, 48.23, 42.89),
}
COLUMNS = ["n_men", "n_women", "lambda_D", "lambda_M", "lambda_D_F1", "delta", "mAP", "F1"]
ATTACKER_COURSE = {"attacker_epochs": 50, "attacker_lr": 2e-3}


def split_label(alpha: float | None, control: bool = False, gender: bool = False) -> str:
    if gender:
        return "original"
    name = "no gender" if alpha is None else f"α={alpha:g}"
    return f"control, {name}" if control else name


def base_task(config) -> TaskSpec:
    """The data of a configuration: the stand-in, or (§4.1) COCO 2014 (``wang_coco``) or imSitu
    (``wang_imsitu``) from the folder ``coco_root`` / ``imsitu_root`` (default: the data folder's)."""
    if config["dataset"] == "coco":
        return WangCoco(root=config.get("coco_root"))
    if config["dataset"] == "imsitu":
        return WangImSitu(root=config.get("imsitu_root"))
    return CocoStandIn(
        n_train=config["size"],
        n_validation=max(20, round(0.3 * config["size"])),
        n_test=max(20, round(0.3 * config["size"])),
        group_rate=config["men"],
    )


def split_specs(config) -> list[tuple[dict, object, MultiLabelBCE]]:
    """(tags, task spec, method) of every split of ``config``: original (joint gender), no gender, each α with
    each removal, and, on the stand-in, the control (no unlabelled object) at no gender and at the smallest α."""
    base = base_task(config)
    plain, joint = MultiLabelBCE(), MultiLabelBCE(gender=True)
    removal0 = config["removals"][0]
    out = [
        ({"split": "original", "alpha": np.nan, "removal": "", "hidden": True}, base, joint),
        ({"split": "no gender", "alpha": np.nan, "removal": "", "hidden": True}, base, plain),
    ]
    for removal in config["removals"]:
        for alpha in sorted(config["alphas"], reverse=True):
            task = AlphaBalanced(base=base, alpha=alpha, removal=removal)
            out.append(({"split": f"α={alpha:g}", "alpha": alpha, "removal": removal, "hidden": True}, task, plain))
    if config["dataset"] != "standin":
        return out
    control = base.replace(hidden=False)
    smallest = min(config["alphas"])
    out.append(({"split": "control, no gender", "alpha": np.nan, "removal": "", "hidden": False}, control, plain))
    balanced = AlphaBalanced(base=control, alpha=smallest, removal=removal0)
    tags = {"split": f"control, α={smallest:g}", "alpha": smallest, "removal": removal0, "hidden": False}
    out.append((tags, balanced, plain))
    return out


def model_recipe(config) -> Recipe:
    """Adam, batch 32 (§4.1, "Training Details"), ``lr`` and ``epochs`` of the preset."""
    return Recipe(epochs=config["epochs"], batch_size=32, optimizer="adam", lr=config["lr"])


def attacker_settings(config, seed: int) -> dict:
    return {"seed": seed, "epochs": config["attacker_epochs"], "lr": config["attacker_lr"]}


def leakage_frame(runs: pd.DataFrame, specs: list[RunSpec], config, sources) -> pd.DataFrame:
    """One row per (stored run, attacker seed, source): the run's tags, mAP and F1, and the leakages read from
    (or computed into) the current store: λ_D and the training split's #men/#women (``DatasetLeakage`` at F1 = 1
    on the run's task), λ_M (``ModelLeakage``), λ_D(F1) at the run's test F1 rounded to 0.001, Δ."""
    by_key = {s.key: s for s in specs}
    rows = []
    for _, run in runs.iterrows():
        spec = by_key[run["key"]]
        f1, mAP = float(run["metrics.F1"]), float(run["metrics.mAP"])
        for a in range(config["attacker_runs"]):
            settings = attacker_settings(config, a)
            loaded = load_stored(
                DatasetLeakage(task=spec.task, f1=1.0, **settings),
                DatasetLeakage(task=spec.task, f1=round(max(f1, 0.001), 3), **settings),
                *[ModelLeakage(run=spec.key, source=source, **settings) for source in sources],
            )
            if loaded is None:
                continue
            data, at_f1, *models = loaded
            for source, model in zip(sources, models, strict=True):
                rows.append(
                    {
                        **spec.tags,
                        "key": spec.key,
                        "attacker": a,
                        "source": source,
                        "n_women": int(data["n_groups"][0]),
                        "n_men": int(data["n_groups"][1]),
                        "lambda_D": float(data["accuracy"]),
                        "lambda_M": float(model["accuracy"]),
                        "lambda_D_F1": float(at_f1["accuracy"]),
                        "delta": float(model["accuracy"]) - float(at_f1["accuracy"]),
                        "mAP": mAP,
                        "F1": f1,
                    }
                )
    return pd.DataFrame(rows)


def run_values(results: pd.DataFrame, column: str, by: str = "run") -> pd.Series:
    """``column`` averaged over attacker seeds, one value per ``by`` (model runs: the unit of the claims)."""
    return results.groupby(by)[column].mean()


class DataChapter(Chapter):
    """A chapter of Part II whose data may be a user-given folder (``base_task``): before anything trains, a
    missing folder stops the run with one line naming it and the download page."""

    def check(self, config):
        for dataset in ("coco", "imsitu"):
            if config.get(f"{dataset}_root") is not None and config["dataset"] != dataset:
                raise P.ParameterError(
                    f"{dataset}_root is read only with dataset={dataset} (this configuration uses {config['dataset']})"
                )

    def run(self, config, store=None, progress=True, **sweep_options) -> pd.DataFrame:
        if config["dataset"] != "standin" and not os.environ.get(RESULTS_ONLY):
            base_task(config).require()
        return super().run(config, store, progress, **sweep_options)

    def reference_config(self, config) -> dict:
        """``config`` with W-T1's splits at α = 1 and the fewest-objects removal only: the splits whose runs W-T2,
        W-T3 and W-T45 share with W-T1 (the same store keys)."""
        return {**config, "alphas": [1.0], "removals": ["fewest_objects"]}

    def logits_run(self, config, tags: dict, task, method, seed: int) -> RunSpec:
        """A model run of Part II: ``config``'s model and ``model_recipe``, keeping its logits on the three splits
        (the attackers' inputs), tagged with ``tags`` and its seed as ``run``."""
        return RunSpec(
            task,
            parse_model(config["model"]),
            model_recipe(config),
            seed=seed,
            method=method,
            evaluate_on=("train", "validation", "test"),
            keep_outputs=True,
            tags={**tags, "run": seed},
        )

    def result_panel(self, results: pd.DataFrame, config, width: float, height: float):
        """(figure, axis) of a one-panel figure; on empty results the panel says so (``no_results``)."""
        fig, axes = new_figure(1, width=width, height=height)
        ax = axes[0, 0]
        if results.empty:
            ax.text(0.5, 0.5, no_results(config), ha="center", wrap=True)
        return fig, ax


class WangT1(DataChapter):
    id = "W-T1"
    claim_rules = ("positive", "paired_better", "equivalent_to_zero", "sign")
    title = "Table 1: leakage and bias amplification per training split"
    notebook = "wang_t1.md"
    presets = {
        "smoke": {
            "dataset": "standin",
            "alphas": [1.0],
            "removals": ["fewest_objects"],
            "sources": ["train"],
            "runs": 2,
            "attacker_runs": 2,
            "epochs": 2,
            "lr": 1e-3,
            "attacker_epochs": 3,
            "attacker_lr": 1e-3,
            "size": 200,
            "men": 0.7,
            "model": "mlp",
        },
        "course": {
            "dataset": "standin",
            "alphas": [3.0, 2.0, 1.0],
            "removals": ["fewest_objects", "random"],
            "sources": ["train", "heldout"],
            "runs": 3,
            "attacker_runs": 2,
            "epochs": 20,
            "lr": 1e-3,
            **ATTACKER_COURSE,
            "size": 1000,
            "men": 0.7,
            "model": "resnet8",
        },
        "paper": {
            "dataset": "coco",
            "alphas": [3.0, 2.0, 1.0],
            "removals": ["fewest_objects", "random"],
            "sources": ["train", "heldout"],
            "runs": 5,
            "attacker_runs": 5,
            "epochs": 20,
            "lr": 1e-4,
            "attacker_epochs": 100,
            "attacker_lr": 5e-5,
            "size": 22826,
            "men": 0.71,
            "model": "resnet50_imagenet",  # §5.3: "a ResNet-50 classification network"
        },
    }
    parameters = {
        "dataset": P.choice("standin", "coco"),
        "coco_root": P.folder,
        "alphas": P.numbers(1, 100, unique=True),
        "removals": P.choices(*REMOVALS),
        "sources": P.choices(*SOURCES),
        "runs": P.integer(2, 20),
        "attacker_runs": P.integer(1, 20),
        "epochs": P.integer(1, 500),
        "lr": P.number(0, 1, open_low=True),
        "attacker_epochs": P.integer(1, 1000),
        "attacker_lr": P.number(0, 1, open_low=True),
        "size": P.integer(40, 100_000),
        "men": P.number(0.05, 0.95),
        "model": P.model(),
    }

    def specs(self, config):
        """One run per (split, model seed), keeping its logits on the three splits (``logits_run``)."""
        return [
            self.logits_run(config, tags, task, method, seed)
            for tags, task, method in split_specs(config)
            for seed in run_ids(config)
        ]

    def results(self, config, store=None, specs=None) -> pd.DataFrame:
        """``leakage_frame`` of the stored runs (attackers computed into the store when missing)."""
        store = store or current_store()
        specs = specs if specs is not None else self.specs(config)
        runs = super().results(config, store, specs)
        if runs.empty:
            return pd.DataFrame(columns=["split", "run", "attacker", "source", *COLUMNS])
        with stored_attackers(store):
            return leakage_frame(runs, specs, config, config["sources"])

    def table(self, results: pd.DataFrame, config, source: str | None = None) -> pd.DataFrame:
        """Table 1's layout for one source (default: the first): per split, #men, #women, the leakages as
        mean ± 95% half-interval over every (model run, attacker seed) in %, Δ, mAP and F1 in %; the paper's
        COCO row beside it where it has one."""
        source = source or config["sources"][0]
        part = results[results["source"] == source]
        rows = []
        for (split, removal), cell in part.groupby(["split", "removal"], sort=False):
            row = {"split": split, "removal": removal or "—", "#men": int(cell["n_men"].iloc[0])}
            row["#women"] = int(cell["n_women"].iloc[0])
            for column, name in (
                ("lambda_D", "λ_D"),
                ("lambda_M", "λ_M(F1)"),
                ("lambda_D_F1", "λ_D(F1)"),
                ("delta", "Δ"),
                ("mAP", "mAP"),
                ("F1", "F1"),
            ):
                row[name] = _pct(cell[column])
            paper = PAPER.get(split) if removal in ("", "fewest_objects") else None
            row["paper (COCO): λ_D / λ_M / Δ / F1"] = (
                f"{paper[2]:.2f} / {paper[3]:.2f} / {paper[5]:.2f} / {paper[7]:.2f}" if paper else ""
            )
            rows.append(row)
        return pd.DataFrame(rows)

    def figure(self, results, config):
        """λ_D, λ_D(F1) and λ_M(F1) per split (mean and 95% interval over runs and attacker seeds), the paper's
        layout turned into bars: Δ is the gap between the last two."""
        fig, ax = self.result_panel(results, config, 9.0, 3.8)
        if results.empty:
            return fig
        part = results[results["source"] == config["sources"][0]]
        short = {"fewest_objects": "heuristic", "random": "random"}
        pairs = part[["split", "removal"]].drop_duplicates().to_numpy()
        labels = [f"{s}\n({short[r]})" if r else s.replace(", ", ",\n") for s, r in pairs]
        cells = [c for _, c in part.groupby(["split", "removal"], sort=False)]
        width = 0.27
        for j, (column, name) in enumerate((("lambda_D", "λ_D"), ("lambda_D_F1", "λ_D(F1)"), ("lambda_M", "λ_M(F1)"))):
            stats = [mean_ci(c[column].to_numpy()) for c in cells]
            means = [m for m, _, _ in stats]
            errors = [[m - lo for m, lo, _ in stats], [hi - m for m, _, hi in stats]]
            ax.bar(np.arange(len(cells)) + (j - 1) * width, means, width, yerr=errors, label=name, capsize=2)
        ax.axhline(0.5, color="grey", linestyle=":", label="chance")
        ax.set_xticks(np.arange(len(cells)), labels, fontsize=7)
        ax.set(ylabel="attacker accuracy", ylim=(0.4, 1.0))
        ax.set_title(f"attacker on {config['sources'][0]} logits", fontsize=9)
        ax.legend(fontsize=7, ncol=4)
        fig.tight_layout()
        return fig

    def claims(self, results, config):
        """Table 1's claims, judged over model runs (each run's value averaged over attacker seeds), once per
        open choice:

        1. "Δ > 0 in every split" (§4.2) — ``verdicts.positive`` over the splits, per ``source``;
        2. "α-balancing lowers λ_D" — ``verdicts.paired_better`` (lower) of λ_D(α) against λ_D(no gender) at
           every α, attacker seeds paired (one dataset per split), per ``removal``;
        3. "Δ nearly unchanged by balancing" — ``verdicts.combine`` of ``equivalent_to_zero`` on the paired
           differences Δ(α) − Δ(no gender) over runs, band ±``LEAKAGE_TOLERANCE``, per (source, removal);
        4. the paper's explanation (§1, §4.2: unlabelled gender-correlated objects) — Δ at the smallest α exceeds
           the control's without the unlabelled object, ``verdicts.sign`` of the paired difference, per source.
        """
        return _frame([row[:3] for row in self.claim_rows(results, config)])

    def claim_rows(self, results, config) -> list[tuple]:
        """``claims``' rows as (claim, paper, verdict, family, choices): ``family`` the claim without its open
        choices (one of ``FAMILIES``), ``choices`` the values of the open choices it was judged at."""
        rows = []
        if results.empty:
            why = no_results(config)
            return [(family, "", V.not_run(why), family, {}) for family in FAMILIES]
        smallest = min(config["alphas"])
        first = config["removals"][0]
        for source in config["sources"]:
            part = results[results["source"] == source]
            per_split = {
                f"{s} {r}".strip(): run_values(c, "delta").to_numpy()
                for (s, r), c in part.groupby(["split", "removal"], sort=False)
                if not s.startswith("control")
            }
            claim = f"Δ > 0 in every split (attacker on {source} logits)"
            rows.append((claim, "9.73 to 12.85 (COCO)", V.positive(per_split), FAMILIES[0], {"source": source}))
        part = results[results["source"] == config["sources"][0]]
        reference = run_values(part[part["split"] == "no gender"], "lambda_D", by="attacker")
        for removal in config["removals"]:
            balanced = {a: run_values(_cell(part, a, removal), "lambda_D", by="attacker") for a in _alphas(config)}
            verdict = V.paired_better(
                {a: v.to_numpy() for a, v in balanced.items()},
                {a: reference.loc[v.index].to_numpy() for a, v in balanced.items()},
                higher=False,
            )
            measured = _prefix(verdict, "λ_D(no gender) − λ_D(α)")
            claim = f"α-balancing lowers λ_D ({removal} removal)"
            rows.append((claim, "67.72 → 62.00, 56.77, 53.15", measured, FAMILIES[1], {"removal": removal}))
        for source in config["sources"]:
            part = results[results["source"] == source]
            reference = run_values(part[part["split"] == "no gender"], "delta")
            for removal in config["removals"]:
                settings = {}
                for alpha in _alphas(config):
                    values = run_values(_cell(part, alpha, removal), "delta")
                    settings[alpha] = ((values - reference.loc[values.index]).to_numpy(),)
                verdict = V.combine(V.equivalent_to_zero, settings, tolerance=LEAKAGE_TOLERANCE)
                claim = (
                    f"α-balancing leaves Δ nearly unchanged, within ±{LEAKAGE_TOLERANCE * 100:g} points "
                    f"({source} logits, {removal} removal)"
                )
                measured = _prefix(verdict, "Δ(α) − Δ(no gender)")
                choices = {"source": source, "removal": removal}
                rows.append((claim, "Δ: 9.93 → 10.28, 9.73, 10.37", measured, FAMILIES[2], choices))
        for source in config["sources"]:
            claim = f"the unlabelled object drives Δ in the balanced split (α = {smallest:g}, {source} logits)"
            paper = "posited, not measured (§1, §4.2)"
            if config["dataset"] != "standin":
                rows.append((claim, paper, V.not_run(STANDIN_ONLY), FAMILIES[3], {"source": source}))
                continue
            part = results[results["source"] == source]
            with_object = run_values(_cell(part, smallest, first), "delta")
            control = run_values(part[part["split"] == f"control, α={smallest:g}"], "delta")
            common = with_object.index.intersection(control.index)
            verdict = V.sign((with_object.loc[common] - control.loc[common]).to_numpy(), 1)
            rows.append((claim, paper, _prefix(verdict, "Δ − Δ(control)"), FAMILIES[3], {"source": source}))
        return rows

    def summary(self, results, config):
        """Numbers the narrative cites: Δ of no gender and of the smallest α, λ_D of both (first source and
        removal), in % with their 95% half-intervals; the same two Δ with the attacker on held-out logits; which
        open choice changes which verdict (``choice_effects``)."""
        keys = ("delta_plain", "delta_balanced", "lambda_plain", "lambda_balanced", "alpha")
        keys += ("delta_plain_heldout", "delta_balanced_heldout", "open_choices")
        if results.empty:
            return dict.fromkeys(keys, "not run")
        part = results[results["source"] == config["sources"][0]]
        smallest = min(config["alphas"])
        plain = part[part["split"] == "no gender"]
        balanced = part[(part["split"] == f"α={smallest:g}") & (part["removal"] == config["removals"][0])]
        heldout = results[results["source"] == "heldout"]
        return {
            "delta_plain": _pct(plain["delta"]),
            "delta_balanced": _pct(balanced["delta"]),
            "lambda_plain": _pct(plain["lambda_D"]),
            "lambda_balanced": _pct(balanced["lambda_D"]),
            "alpha": f"{smallest:g}",
            "delta_plain_heldout": _pct(heldout.loc[heldout["split"] == "no gender", "delta"]),
            "delta_balanced_heldout": _pct(_cell(heldout, smallest, config["removals"][0])["delta"]),
            "open_choices": choice_effects(self.claim_rows(results, config), config),
        }


CHOICES = {"source": ("the logits source", "{} logits"), "removal": ("the removal heuristic", "{} removal")}


def choice_effects(rows, config) -> str:
    """Which open choice changes which verdict, from ``WangT1.claim_rows``: a sentence per (choice, claim, values
    of the other choice) where the verdicts differ between the choice's values; one sentence when none does."""
    varied = [c for c, key in (("source", "sources"), ("removal", "removals")) if len(config[key]) > 1]
    if not varied:
        return "This configuration runs one value of each open choice, so neither can change a verdict."
    sentences = []
    for choice in varied:
        name, shown = CHOICES[choice]
        for family in FAMILIES:
            groups: dict[tuple, dict] = {}
            for _, _, verdict, row_family, choices in rows:
                if row_family == family and choice in choices:
                    rest = tuple(CHOICES[k][1].format(v) for k, v in choices.items() if k != choice)
                    groups.setdefault(rest, {})[shown.format(choices[choice])] = verdict.verdict
            for rest, verdicts in groups.items():
                if len(set(verdicts.values())) > 1:
                    at = f" (with {', '.join(rest)})" if rest else ""
                    listed = "; ".join(f"{value}: {verdict}" for value, verdict in verdicts.items())
                    sentences.append(f"{name[0].upper()}{name[1:]} changes “{family}”{at} — {listed}.")
    if sentences:
        return " ".join(sentences)
    names = " nor ".join(CHOICES[c][0] for c in varied)
    return (
        f"Neither {names} changes a verdict."
        if len(varied) > 1
        else f"{names[0].upper()}{names[1:]} changes no verdict."
    )


def _alphas(config) -> list[float]:
    return sorted(config["alphas"], reverse=True)


def _cell(part: pd.DataFrame, alpha: float, removal: str) -> pd.DataFrame:
    """The rows of the α-balanced split (with the unlabelled object) made with ``removal``."""
    return part[(part["alpha"] == alpha) & (part["removal"] == removal) & part["hidden"].astype(bool)]


def _prefix(verdict: V.Verdict, what: str) -> V.Verdict:
    return V.Verdict(verdict.verdict, f"{what}: {verdict.measured}")


def _frame(rows) -> pd.DataFrame:
    return pd.DataFrame([{"claim": c, "paper": p, "measured": v.measured, "verdict": v.verdict} for c, p, v in rows])


def _pct(values) -> str:
    values = np.asarray(values, dtype=float) * 100
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return "—"
    mean, low, high = mean_ci(values)
    return f"{mean:.1f} ± {(high - low) / 2:.1f}"


CHAPTER = WangT1()
