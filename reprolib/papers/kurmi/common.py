"""Shared protocol of Part III (Kurmi et al. 2022): run specifications, λ chosen on a validation split, tables
in the paper's layout with the paper's numbers beside this run's, and the verdict rules of its claims.

Hyperparameter selection. The gradient-reversal coefficient λ of ``adversarial`` and of the GBA variants is
chosen per (setting, method) from ``lambdas`` by the mean over seeds of the table's metric on a *validation*
split — a stratified 20% of the training images held out and given the test split's unbiased bias attribute
(``skew_tasks.validation_source``) — never on the test set. The test split is trained at every λ of the grid too,
so the λ curves show how sensitive each method is; the tables report the test runs at the selected λ.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd

from ... import claims as C
from ... import params as P
from ... import verdicts as V
from ...chapter import Chapter, run_ids
from ...figures import mean_band, new_figure
from ...metrics import mean_ci
from ...models import MLP, parse_model
from ...specs import METHODS, ModelSpec, TaskSpec
from ...sweep import RunSpec
from ...training import Recipe
from .methods import ADVERSARIAL_FAMILY, KURMI_METHODS, PROTOCOLS, SCHEDULES

__all__ = ["KurmiChapter", "METHOD_NAMES", "LAMBDA_METHODS", "part3_recipe", "part3_model", "metric_column"]

METHOD_NAMES = {
    "vanilla": "Vanilla",
    "domain_independent": "Domain Ind (Wang et al. 2020)",
    "filter_drop": "Filter-Drop (Nagpal et al. 2020)",
    "group_dro": "Group-DRO (Sagawa et al. 2020)",
    "repair": "REPAIR (Li & Vasconcelos 2019)",
    "lff": "LfF (Nam et al. 2020)",
    "adversarial": "Adversarial",
    "gba_n": "GBA-n",
    "gba_c": "GBA-c",
    "gba": "Adversarial with GBA",
}
LAMBDA_METHODS = tuple(m for m in ADVERSARIAL_FAMILY if m != "vanilla")
COURSE_LAMBDAS = [0.03, 0.1, 0.3, 1.0]  # the λ grid at course: enough points for the λ curves, chosen on validation
DEFAULT_DROP_FRACTION = 0.5  # Filter-Drop's share of dropped feature units: this book's choice (see methods.py)


def part3_recipe(epochs: int, lr: float, batch_size: int, augment: str = "none", crop_padding: int = 4) -> Recipe:
    """SGD with momentum 0.9 (no Nesterov), a constant learning rate, no weight decay, no warm-up. The paper
    states no optimiser; this book's one trainer is SGD, so the learning rate is ours (stated in each preset)."""
    return Recipe(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        warmup_epochs=0,
        lr_drops=(),
        momentum=0.9,
        nesterov=False,
        weight_decay=0.0,
        augment=augment,
        crop_padding=crop_padding,
    )


def metric_column(protocol: str, metric: str) -> str:
    return f"metrics.protocols.{protocol}.{metric}"


def protocol_values(frame: pd.DataFrame, protocol: str, metric: str) -> pd.Series:
    """A metric under a test protocol; methods without a mask report only ``none``, which then stands in.

    The bias gap is reported, as in the paper's tables, as the absolute difference |aligned − conflicting|
    (Table 1 prints GBA's 91.95 − 92.05 as 0.10): a method that over-corrects (conflicting ≫ aligned) is as
    biased as one that under-corrects, so every "smaller gap" claim compares absolute gaps."""
    none = frame[metric_column("none", metric)]
    column = metric_column(protocol, metric)
    values = frame[column].fillna(none) if column in frame else none
    return values.abs() if metric == "gap" else values


def part3_model(name: str, width: int, head_hidden: int | None = None) -> ModelSpec:
    """The model of a Part III chapter: ``mlp`` (three hidden layers of ``width`` units), or a ResNet of that
    width whose last fully connected layer is replaced by two with ``head_hidden`` hidden units."""
    if name == "mlp":
        return MLP(hidden=width, depth=3)
    return parse_model(name).replace(width=width, head_hidden=head_hidden)


def run_task(template: TaskSpec, run: int, split: str) -> TaskSpec:
    """A setting's task for one run and split: the template with the run's seed (for tasks that have one) and,
    on the validation split, ``split="validation"``."""
    fields = {f.name for f in dataclasses.fields(template)}
    changes = {"seed": run} if "seed" in fields else {}
    if split == "validation":
        changes["split"] = "validation"
    return template.replace(**changes)


class KurmiChapter(Chapter):
    """A Part III table: settings (rows of tasks) × methods, λ selected on validation, paper numbers beside.

    Subclasses set ``settings(config)`` → {label: task spec without seed}, ``paper`` → {method: {label: number}},
    ``table_metric`` (the metric the paper's table reports and λ is selected by) and the claims.
    """

    table_metric = "mean"
    table_metrics: tuple[str, ...] = ()  # the table's columns per setting when it shows several metrics
    parameters = {
        "methods": P.choices(*KURMI_METHODS),
        "runs": P.integer(1, 100),
        "epochs": P.integer(1),
        "lr": P.number(0, 10, open_low=True),
        "batch_size": P.integer(1, 4096),
        "lambdas": P.numbers(0, 100),
        "lambda_schedule": P.choice(*SCHEDULES),
        "discriminator_input": P.choice("unmasked", "masked"),
        "test_protocol": P.choice(*PROTOCOLS),
        "model": P.choice("mlp", "resnet8", "resnet20", "resnet18"),
        "width": P.integer(1, 512),
        "drop_fraction": P.number(0, 1, open_low=True, open_high=True),
    }
    paper: dict[str, dict[str, float]] = {}

    def settings(self, config) -> dict[str, TaskSpec]:
        """{label: the setting's task} (its seed and split are set per run by ``run_task``)."""
        raise NotImplementedError

    def model_spec(self, config) -> ModelSpec:
        raise NotImplementedError

    def recipe(self, config) -> Recipe:
        return part3_recipe(config["epochs"], config["lr"], config["batch_size"])

    def method_spec(self, name: str, lam: float | None, config):
        cls = METHODS.get(name)
        if name == "filter_drop":
            return cls(drop_fraction=config.get("drop_fraction") or DEFAULT_DROP_FRACTION)
        if name not in ADVERSARIAL_FAMILY:
            return cls()
        options = {"schedule": config["lambda_schedule"], "discriminator_input": config["discriminator_input"]}
        return cls(**options, **({"lam": lam} if lam is not None else {}))

    def curves(self, method: str) -> bool:
        return False

    def specs(self, config):
        model, recipe = self.model_spec(config), self.recipe(config)
        specs = []
        for label, task in self.settings(config).items():
            for method in config["methods"]:
                grid = config["lambdas"] if method in LAMBDA_METHODS else [None]
                splits = ("validation", "test") if method in LAMBDA_METHODS and len(grid) > 1 else ("test",)
                for lam, split, run in ((lam, s, r) for lam in grid for s in splits for r in run_ids(config)):
                    tags = {"setting": label, "method": method, "lambda": lam, "split": split, "run": run}
                    specs.append(
                        RunSpec(
                            run_task(task, run, split),
                            model,
                            recipe,
                            seed=run,
                            method=self.method_spec(method, lam, config),
                            curves=self.curves(method) and split == "test",
                            tags=tags,
                        )
                    )
        return specs

    # --- results ---------------------------------------------------------------------------------------------

    def values(self, results: pd.DataFrame, config, metric: str) -> pd.Series:
        return protocol_values(results, config["test_protocol"], metric)

    def selected_lambda(self, results: pd.DataFrame, config, setting: str, method: str) -> float | None:
        """The λ of the grid with the best mean validation ``table_metric`` (ties: the smaller λ)."""
        if method not in LAMBDA_METHODS:
            return None
        if len(config["lambdas"]) == 1:
            return config["lambdas"][0]
        part = results[(results["setting"] == setting) & (results["method"] == method)]
        part = part[part["split"] == "validation"]
        if part.empty:
            return None
        scores = self.values(part, config, self.table_metric).groupby(part["lambda"]).mean()
        return float(scores.idxmax())

    def final(self, results: pd.DataFrame, config) -> pd.DataFrame:
        """Test runs at the selected λ, one row per (setting, method, run)."""
        if results.empty:
            return results
        keep = []
        for (setting, method), part in results[results["split"] == "test"].groupby(["setting", "method"]):
            lam = self.selected_lambda(results, config, setting, method)
            keep.append(part if lam is None else part[np.isclose(part["lambda"].astype(float), lam)])
        return pd.concat(keep) if keep else results.iloc[:0]

    def per_run(self, final: pd.DataFrame, config, setting: str, method: str, metric: str) -> pd.Series:
        """A metric of the final runs of one (setting, method), indexed by run (for paired comparisons)."""
        part = final[(final["setting"] == setting) & (final["method"] == method)]
        return pd.Series(self.values(part, config, metric).to_numpy(), index=part["run"].to_numpy()).sort_index()

    def table(self, results: pd.DataFrame, config, metrics=None) -> pd.DataFrame:
        """The paper's table: one row per method (those run, then the paper's others as "not run"), per setting
        the paper's number beside this run's mean ± 95% half-interval over runs (in %), and the λ selected on
        validation."""
        metrics = metrics or list(self.table_metrics) or [self.table_metric]
        final = self.final(results, config)
        rows = []
        for method in [*config["methods"], *[m for m in self.paper if m not in config["methods"]]]:
            row = {"method": METHOD_NAMES[method]}
            for setting in self.settings(config):
                for metric in metrics:
                    name = f"{setting} {metric}" if len(metrics) > 1 else setting
                    paper = self.paper.get(method, {}).get(f"{setting} {metric}" if len(metrics) > 1 else setting)
                    row[f"{name} (paper)"] = "—" if paper is None else f"{paper:.2f}"
                    values = self.per_run(final, config, setting, method, metric) if not final.empty else []
                    row[f"{name} (this run)"] = _pct(values) if len(values) else "not run"
                lam = self.selected_lambda(results, config, setting, method) if not results.empty else None
                row[f"{setting} λ"] = "—" if lam is None else f"{lam:g}"
            rows.append(row)
        return pd.DataFrame(rows)

    def summary(self, results: pd.DataFrame, config) -> dict[str, str]:
        """For every column of the paper's table (a setting, or a setting and a metric): this run's mean of each
        method (in %; a gap in points), ``<method>_<column>`` (e.g. ``vanilla_95``, ``gba_cifar_10s_gap``), and
        the method with the best mean (the smallest gap), ``best_<column>``; "not run" where no run is."""
        final = self.final(results, config)
        out = {}
        for column in dict.fromkeys(c for row in self.paper.values() for c in row):
            setting, metric = column.rsplit(" ", 1) if self.table_metrics else (column, self.table_metric)
            means = {
                m: self.per_run(final, config, setting, m, metric).mean() * 100 if not final.empty else np.nan
                for m in dict.fromkeys([*self.paper, *config["methods"]])
            }
            unit = " points" if metric == "gap" else "%"
            out.update({_key(m, column): "not run" if np.isnan(v) else f"{v:.1f}{unit}" for m, v in means.items()})
            ran = {m: v for m, v in means.items() if not np.isnan(v)}
            best = (min if metric == "gap" else max)(ran, key=ran.get) if ran else None
            out[_key("best", column)] = METHOD_NAMES[best] if best else "not run"
        return out

    def protocol_table(self, results: pd.DataFrame, config, method: str = "gba") -> pd.DataFrame:
        """GBA's test accuracies under the three test protocols (mask from the true bias label, no mask, mask
        from the discriminator's prediction), at the λ selected on validation."""
        final = self.final(results, config)
        rows = []
        for setting in self.settings(config):
            part = final[(final["setting"] == setting) & (final["method"] == method)] if not final.empty else final
            for protocol in PROTOCOLS:
                row = {"setting": setting, "protocol": protocol}
                for metric in ("accuracy", "aligned", "conflicting", "mean", "gap"):
                    column = metric_column(protocol, metric)
                    if part.empty or column not in part:
                        row[metric] = "no runs"
                        continue
                    row[metric] = _pct(part[column].abs() if metric == "gap" else part[column])  # gaps absolute
                rows.append(row)
        return pd.DataFrame(rows)

    def figure(self, results: pd.DataFrame, config):
        return self.lambda_figure(results, config)

    def lambda_figure(self, results: pd.DataFrame, config, methods=("adversarial", "gba")):
        """Test accuracy on conflicting images and the table's metric against λ, per setting; vanilla dotted."""
        settings = list(self.settings(config))
        fig, axes = new_figure(len(settings), 2, width=4.4, height=3.0)
        test = results[results["split"] == "test"] if not results.empty else results
        for col, setting in enumerate(settings):
            part = test[test["setting"] == setting] if not test.empty else test
            for row, metric in enumerate(("conflicting", self.table_metric)):
                ax = axes[row][col]
                for method in methods:
                    runs = part[part["method"] == method] if not part.empty else part
                    if runs.empty:
                        continue
                    frame = pd.DataFrame(
                        {"lambda": runs["lambda"].astype(float), "y": self.values(runs, config, metric)}
                    )
                    mean_band(ax, frame, "lambda", "y", label=METHOD_NAMES[method])
                    lam = self.selected_lambda(results, config, setting, method)
                    if lam is not None:
                        ax.axvline(lam, linestyle="--", linewidth=0.8, color=ax.lines[-1].get_color())
                vanilla = part[part["method"] == "vanilla"] if not part.empty else part
                if not vanilla.empty:
                    ax.axhline(
                        self.values(vanilla, config, metric).mean(), color="grey", linestyle=":", label="Vanilla"
                    )
                ax.set_xscale("log")
                ax.set_ylim(-0.02, 1.02)  # an accuracy; a t-interval over 3 bimodal runs can pass 0 or 1
                ax.set(
                    xlabel="gradient-reversal coefficient λ",
                    ylabel="test accuracy" if metric == "accuracy" else f"test {metric} accuracy",
                    title=setting,
                )
                if row == 0 and col == 0:
                    ax.legend(fontsize=8)
        fig.suptitle("λ sensitivity (dashed: λ selected on validation)", fontsize=10)
        fig.tight_layout()
        return fig

    # --- claims ----------------------------------------------------------------------------------------------

    def paired(self, final: pd.DataFrame, config, setting: str, methods, metric: str) -> dict[str, np.ndarray]:
        """The final runs of ``methods`` in one setting on ``metric``, restricted to the runs (seeds) every one of
        them has, in the order of the run: values paired by position, as the paired rules need."""
        series = {m: self.per_run(final, config, setting, m, metric) for m in methods}
        common = sorted(set.intersection(*(set(v.index) for v in series.values())))
        return {m: v[common].to_numpy() for m, v in series.items()}

    def better_claim(self, results, config, claim, paper, better: str, worse: str, metric=None) -> C.Claim:
        """``better`` beats ``worse`` on ``metric`` in every setting: ``verdicts.paired_better`` on the paired
        (same seed) final runs of each setting — a one-sided t-test of the paired differences per setting,
        combined over the settings by ``verdicts.combine``. Higher is better, except for the (absolute) bias
        gap, where smaller is better."""
        metric = metric or self.table_metric
        if better not in config["methods"] or worse not in config["methods"]:
            return C.not_run(claim, paper, f"needs methods {better} and {worse}")
        final = self.final(results, config)
        a, b = {}, {}
        for setting in self.settings(config):
            pair = self.paired(final, config, setting, (better, worse), metric)
            a[setting], b[setting] = pair[better], pair[worse]
        return C.judged(claim, paper, V.paired_better(a, b, higher=metric != "gap"))

    def best_claim(self, results, config, claim, paper, method: str = "gba", metric=None, settings=None) -> C.Claim:
        """``method`` is better than every other method run on ``metric``, in every one of ``settings`` (default:
        all): ``verdicts.best_of`` per setting on the paired final runs (significantly better than *each* rival,
        one-sided paired t-tests), combined over the settings by ``verdicts.combine``. Higher is better, except
        for the (absolute) bias gap."""
        metric = metric or self.table_metric
        if method not in config["methods"] or len(config["methods"]) < 2:
            return C.not_run(claim, paper, f"needs {method} and another method")
        final = self.final(results, config)
        labels = settings or list(self.settings(config))
        per_setting = {s: (method, self.paired(final, config, s, config["methods"], metric)) for s in labels}
        return C.judged(claim, paper, V.combine(V.best_of, per_setting, higher=metric != "gap"))


def _key(*words: str) -> str:
    """A glue key: lower-case words joined by "_" (``("gba", "CIFAR-10S gap")`` → ``gba_cifar_10s_gap``)."""
    return re.sub(r"[^a-z0-9]+", "_", " ".join(words).lower()).strip("_")


def _pct(values) -> str:
    values = np.asarray(values, dtype=float) * 100
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return "no runs"
    mean, low, high = mean_ci(values)
    return f"{mean:.2f} ± {(high - low) / 2:.2f}"
