"""Shared protocol of Part III (Kurmi et al. 2022): run specifications, every method's own hyperparameter chosen
on a validation split with the same budget, tables in the paper's layout with the paper's numbers beside this
run's, and the verdict rules of its claims, applied to this run and to the paper's own numbers.

Hyperparameter selection (SubpopBench / DomainBed style). Every method with a hyperparameter of its own gets a
grid of it (``HYPERPARAMETERS``: the gradient-reversal coefficient λ of ``adversarial`` and the GBA variants,
LfF's generalised cross-entropy q, Group DRO's step size η, Filter-Drop's dropped fraction); the presets give
every grid the same number of values, so every tuned method has the same budget: ``runs`` validation runs per
value. The value with the best mean over seeds of the table's metric on a *validation* split is kept (ties: the
first in the grid) — a stratified 20% of the training images held out and given the test split's unbiased bias
attribute (``skew_tasks.validation_source``), CelebA's validation partition averaged over its cells — never the
test set. Methods without a hyperparameter of their own (vanilla, Domain-Ind, REPAIR as implemented here) are
trained once per seed. The test split is trained at every value too, so the sensitivity curves show every value;
the tables report the test runs at the selected one.

Test protocols. The GBA mask needs the bias label (eq. 4). The paper does not say where its test-time mask gets
it. Every claim that involves a masked method is therefore judged twice, each row labelled: with the mask built
from the true test bias label (``true``), and under ``label_free_protocol``, which uses no test-time bias label
(``predicted``: the mask built from the discriminator's own prediction; ``none``: no mask).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

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
from .methods import ADVERSARIAL_FAMILY, KURMI_METHODS, MASK_VARIANTS, PROTOCOLS, SCHEDULES

__all__ = [
    "KurmiChapter",
    "METHOD_NAMES",
    "LAMBDA_METHODS",
    "HYPERPARAMETERS",
    "PAPER_RUNS",
    "PROTOCOL_LABELS",
    "Row",
    "paper_runs",
    "part3_recipe",
    "part3_model",
    "metric_column",
]

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
# Each method's own hyperparameter: (its field in the method's spec, the chapter parameter holding its grid, the
# symbol the tables print).
HYPERPARAMETERS = {
    **{m: ("lam", "lambdas", "λ") for m in LAMBDA_METHODS},
    "lff": ("q", "lff_qs", "q"),
    "group_dro": ("step_size", "dro_step_sizes", "η"),
    "filter_drop": ("drop_fraction", "drop_fractions", "fraction"),
}
# The grids at course, four values each (the same budget for every tuned method); each contains the value its
# authors use where they give one (LfF q = 0.7; Group DRO η = 0.01).
COURSE_GRIDS = {
    "lambdas": [0.03, 0.1, 0.3, 1.0],
    "lff_qs": [0.3, 0.5, 0.7, 0.9],
    "dro_step_sizes": [0.001, 0.01, 0.1, 1.0],
    "drop_fractions": [0.1, 0.25, 0.5, 0.75],
}
SMOKE_GRIDS = {
    "lambdas": [0.1, 1.0],
    "lff_qs": [0.5, 0.7],
    "dro_step_sizes": [0.01, 0.1],
    "drop_fractions": [0.25, 0.5],
}
PAPER_GRIDS = {  # five values each
    "lambdas": [0.01, 0.03, 0.1, 0.3, 1.0],
    "lff_qs": [0.1, 0.3, 0.5, 0.7, 0.9],
    "dro_step_sizes": [0.0001, 0.001, 0.01, 0.1, 1.0],
    "drop_fractions": [0.1, 0.25, 0.5, 0.75, 0.9],
}
COURSE_LAMBDAS = COURSE_GRIDS["lambdas"]
# What every preset of every Part III chapter shares; each preset adds its data, model, optimiser and grids.
COMMON_PRESET = {
    "lambda_schedule": "constant",
    "discriminator_input": "unmasked",
    "test_protocol": "true",
    "label_free_protocol": "predicted",
}
# Course: SGD at a constant learning rate, no weight decay (the book's choice for the small stand-ins).
COURSE_OPTIMISER = {"optimizer": "sgd", "weight_decay": 0.0, "lr_step_epochs": 0}
PROTOCOL_LABELS = {
    "true": "mask from the true test bias label",
    "predicted": "no test bias label: mask from D's prediction",
    "none": "no test bias label: no mask",
}
# The paper's tables give mean ± spread but neither the number of runs nor what ± is. To run its numbers through
# this book's rules, ± is read as the standard deviation over PAPER_RUNS runs (this book's paper preset), and
# methods as independent (the paper gives no pairing): a paired difference A − B then has the standard deviation
# √(sd_A² + sd_B²). Stated assumptions, not the paper's.
PAPER_RUNS = 5


def paper_runs(terms, n: int = PAPER_RUNS) -> np.ndarray | None:
    """n values whose mean and standard deviation are those of Σ cᵢ·Xᵢ for independent paper numbers Xᵢ given
    as (coefficient, mean, sd) terms: mean Σ cᵢ·meanᵢ, sd √(Σ cᵢ²·sdᵢ²). Any rule of ``reprolib.verdicts`` then
    sees exactly the paper's t statistic. None when a term has no number or no spread."""
    if any(mean is None or sd is None for _, mean, sd in terms):
        return None
    z = np.arange(n) - (n - 1) / 2
    z = z / z.std(ddof=1)  # sample mean 0, sample standard deviation 1
    mean = sum(c * m for c, m, _ in terms)
    sd = np.sqrt(sum((c * s) ** 2 for c, _, s in terms))
    return (mean + sd * z) / 100  # the tables are in %, the runs' metrics in [0, 1]


def part3_recipe(
    epochs: int,
    lr: float,
    batch_size: int,
    augment: str = "none",
    crop_padding: int = 4,
    optimizer: str = "sgd",
    weight_decay: float = 0.0,
    lr_step_epochs: int = 0,
) -> Recipe:
    """No warm-up; the learning rate divided by 10 every ``lr_step_epochs`` epochs (0: constant; Wang et al.
    2020's CIFAR-10S code: every 50 of 200); SGD with momentum 0.9 (no Nesterov) or Adam (β = 0.9, 0.999), with
    coupled weight decay. The paper states no optimiser; the presets state theirs (``book/paper-scale.md``)."""
    steps = range(lr_step_epochs, epochs, lr_step_epochs) if lr_step_epochs else ()
    return Recipe(
        epochs=epochs,
        batch_size=batch_size,
        optimizer=optimizer,
        lr=lr,
        warmup_epochs=0,
        lr_drops=tuple(e / epochs for e in steps),
        momentum=0.9,
        nesterov=False,
        weight_decay=weight_decay,
        augment=augment,
        crop_padding=crop_padding,
    )


def metric_column(protocol: str, metric: str) -> str:
    return f"metrics.protocols.{protocol}.{metric}"


def protocol_values(frame: pd.DataFrame, protocol: str, metric: str) -> pd.Series:
    """A metric under a test protocol; methods without a mask report only ``none``, which then stands in.
    ``signed_gap`` is aligned − conflicting as measured.

    The bias gap is reported, as in the paper's tables, as the absolute difference |aligned − conflicting|
    (Table 1 prints GBA's 91.95 − 92.05 as 0.10): a method that over-corrects (conflicting ≫ aligned) is as
    biased as one that under-corrects, so every "smaller gap" claim compares absolute gaps."""
    source = "gap" if metric == "signed_gap" else metric
    none = frame[metric_column("none", source)]
    column = metric_column(protocol, source)
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


@dataclass(frozen=True)
class Row:
    """One row of a Part III claims table: this run's verdict (``claim``), the same rule's verdict on the
    paper's own numbers (``on_paper``: a verdict, or why there is none), and whether the claim involves a method
    with a GBA mask, whose test protocol then matters (``masked``)."""

    claim: C.Claim
    on_paper: str
    masked: bool


ON_PAPER = "rule on the paper's numbers"


def rows_frame(rows: list[Row]) -> pd.DataFrame:
    """The claims table: claim, the paper's number, the rule's verdict on the paper's numbers, this run's measure
    and verdict."""
    frame = C.claims_frame([r.claim for r in rows])
    frame.insert(2, ON_PAPER, [r.on_paper for r in rows])
    return frame


class KurmiChapter(Chapter):
    """A Part III table: settings (rows of tasks) × methods, each method's hyperparameter selected on validation,
    paper numbers beside.

    Subclasses set ``settings(config)`` → {label: task spec without seed}, ``paper`` → {method: {column: number}}
    and ``paper_sd`` (the ± of the paper's table, same keys), ``table_metric`` (the metric the paper's table
    reports and hyperparameters are selected by) and ``claim_rows``.
    """

    table_metric = "mean"
    table_metrics: tuple[str, ...] = ()  # the table's columns per setting when it shows several metrics
    parameters = {
        "methods": P.choices(*KURMI_METHODS),
        "runs": P.integer(1, 100),
        "epochs": P.integer(1),
        "optimizer": P.choice("sgd", "adam"),
        "lr": P.number(0, 10, open_low=True),
        "weight_decay": P.number(0, 1),
        "lr_step_epochs": P.integer(0),
        "batch_size": P.integer(1, 4096),
        "lambdas": P.numbers(0, 100),
        "lff_qs": P.numbers(0, 1, open_low=True),
        "dro_step_sizes": P.numbers(0, 10, open_low=True),
        "drop_fractions": P.numbers(0, 1, open_low=True, open_high=True),
        "lambda_schedule": P.choice(*SCHEDULES),
        "discriminator_input": P.choice("unmasked", "masked"),
        "test_protocol": P.choice(*PROTOCOLS),
        "label_free_protocol": P.choice("predicted", "none"),
        "model": P.choice("mlp", "resnet8", "resnet20", "resnet18", "resnet18_imagenet"),
        "width": P.integer(1, 512),
    }
    paper: dict[str, dict[str, float]] = {}
    paper_sd: dict[str, dict[str, float]] = {}

    def settings(self, config) -> dict[str, TaskSpec]:
        """{label: the setting's task} (its seed and split are set per run by ``run_task``)."""
        raise NotImplementedError

    def model_spec(self, config) -> ModelSpec:
        raise NotImplementedError

    def recipe(self, config) -> Recipe:
        return part3_recipe(
            config["epochs"],
            config["lr"],
            config["batch_size"],
            optimizer=config["optimizer"],
            weight_decay=config["weight_decay"],
            lr_step_epochs=config["lr_step_epochs"],
        )

    def grid(self, method: str, config) -> list:
        """The values of ``method``'s own hyperparameter to try ([None] for a method without one)."""
        return list(config[HYPERPARAMETERS[method][1]]) if method in HYPERPARAMETERS else [None]

    def method_spec(self, name: str, value: float | None, config):
        """The method's spec with its hyperparameter at ``value`` (its default for None)."""
        cls = METHODS.get(name)
        options = {}
        if name in ADVERSARIAL_FAMILY:
            options = {"schedule": config["lambda_schedule"], "discriminator_input": config["discriminator_input"]}
        if name in HYPERPARAMETERS and value is not None:
            options[HYPERPARAMETERS[name][0]] = value
        return cls(**options)

    def curves(self, method: str) -> bool:
        return False

    def specs(self, config):
        model, recipe = self.model_spec(config), self.recipe(config)
        specs = []
        for label, task in self.settings(config).items():
            for method in config["methods"]:
                grid = self.grid(method, config)
                splits = ("validation", "test") if len(grid) > 1 else ("test",)
                for value, split, run in ((v, s, r) for v in grid for s in splits for r in run_ids(config)):
                    tags = {"setting": label, "method": method, "value": value, "split": split, "run": run}
                    specs.append(
                        RunSpec(
                            run_task(task, run, split),
                            model,
                            recipe,
                            seed=run,
                            method=self.method_spec(method, value, config),
                            curves=self.curves(method) and split == "test",
                            tags=tags,
                        )
                    )
        return specs

    def tuning_table(self, config) -> pd.DataFrame:
        """The selection budget: per method, its hyperparameter, the grid, the validation runs it costs and the
        rule that picks the value."""
        rows = []
        for method in config["methods"]:
            grid = self.grid(method, config)
            tuned = method in HYPERPARAMETERS
            rows.append(
                {
                    "method": METHOD_NAMES[method],
                    "hyperparameter": HYPERPARAMETERS[method][2] if tuned else "none of its own",
                    "grid": ", ".join(f"{v:g}" for v in grid) if tuned else "—",
                    "validation runs per setting": config["runs"] * len(grid) if len(grid) > 1 else 0,
                    "selection": (
                        f"best mean validation {self.table_metric} over {config['runs']} seeds"
                        + (" under each test protocol" if method in MASK_VARIANTS else "")
                        if len(grid) > 1
                        else "—"
                    ),
                }
            )
        return pd.DataFrame(rows)

    # --- results ---------------------------------------------------------------------------------------------

    def values(self, results: pd.DataFrame, config, metric: str) -> pd.Series:
        return protocol_values(results, config["test_protocol"], metric)

    def selected_value(self, results: pd.DataFrame, config, setting: str, method: str) -> float | None:
        """The value of the method's hyperparameter with the best mean validation ``table_metric`` under the
        chapter's test protocol (ties: the first in the grid)."""
        grid = self.grid(method, config)
        if method not in HYPERPARAMETERS:
            return None
        if len(grid) == 1:
            return grid[0]
        part = results[(results["setting"] == setting) & (results["method"] == method)]
        part = part[part["split"] == "validation"]
        if part.empty:
            return None
        scores = self.values(part, config, self.table_metric).groupby(part["value"].astype(float)).mean()
        scores = scores.reindex([float(v) for v in grid]).dropna()
        return float(scores.idxmax()) if not scores.empty else None

    def final(self, results: pd.DataFrame, config) -> pd.DataFrame:
        """Test runs at the selected value, one row per (setting, method, run)."""
        if results.empty:
            return results
        keep = []
        for (setting, method), part in results[results["split"] == "test"].groupby(["setting", "method"]):
            value = self.selected_value(results, config, setting, method)
            keep.append(part if value is None else part[np.isclose(part["value"].astype(float), value)])
        return pd.concat(keep) if keep else results.iloc[:0]

    def per_run(self, final: pd.DataFrame, config, setting: str, method: str, metric: str) -> pd.Series:
        """A metric of the final runs of one (setting, method), indexed by run (for paired comparisons)."""
        if final.empty:
            return pd.Series(dtype=float)
        part = final[(final["setting"] == setting) & (final["method"] == method)]
        return pd.Series(self.values(part, config, metric).to_numpy(), index=part["run"].to_numpy()).sort_index()

    def table(self, results: pd.DataFrame, config, metrics=None) -> pd.DataFrame:
        """The paper's table: one row per method (those run, then the paper's others as "not run"), per setting
        the paper's number beside this run's mean ± 95% half-interval over runs (in %; the gap absolute, as the
        paper prints it, with the signed aligned − conflicting beside it), and the hyperparameter value selected
        on validation."""
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
                    if metric == "gap":
                        signed = self.per_run(final, config, setting, method, "signed_gap") if len(values) else []
                        row[f"{setting} signed gap (this run)"] = _pct(signed) if len(signed) else "not run"
                value = self.selected_value(results, config, setting, method) if not results.empty else None
                symbol = HYPERPARAMETERS.get(method, ("", "", ""))[2]
                row[f"{setting} selected"] = "—" if value is None else f"{symbol}={value:g}"
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
        from the discriminator's prediction), each at the value selected on validation under that protocol."""
        rows = []
        for protocol in PROTOCOLS:
            cfg = {**config, "test_protocol": protocol}
            final = self.final(results, cfg)
            for setting in self.settings(config):
                part = final[(final["setting"] == setting) & (final["method"] == method)] if not final.empty else final
                row = {"setting": setting, "protocol": protocol}
                for metric in ("accuracy", "aligned", "conflicting", "mean", "gap", "signed_gap"):
                    column = metric_column(protocol, "gap" if metric == "signed_gap" else metric)
                    if part.empty or column not in part:
                        row[metric] = "no runs"
                        continue
                    row[metric] = _pct(part[column].abs() if metric == "gap" else part[column])
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
                        {"lambda": runs["value"].astype(float), "y": self.values(runs, config, metric)}
                    )
                    mean_band(ax, frame, "lambda", "y", label=METHOD_NAMES[method])
                    lam = self.selected_value(results, config, setting, method)
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

    def claim_rows(self, results, config) -> list[Row]:
        """The chapter's claims under ``config["test_protocol"]``, as ``Row``s."""
        raise NotImplementedError

    def claims(self, results, config) -> pd.DataFrame:
        """Every claim; one that involves a masked method twice, each row labelled with its test protocol: the
        true test bias label, and ``label_free_protocol`` (no test-time bias label)."""
        free = config.get("label_free_protocol", "predicted")
        with_true = self.claim_rows(results, {**config, "test_protocol": "true"})
        without = self.claim_rows(results, {**config, "test_protocol": free})
        rows = []
        for a, b in zip(with_true, without, strict=True):
            if not a.masked:
                rows.append(a)
                continue
            for row, protocol in ((a, "true"), (b, free)):
                claim = dataclasses.replace(row.claim, claim=f"{row.claim.claim} [{PROTOCOL_LABELS[protocol]}]")
                rows.append(dataclasses.replace(row, claim=claim))
        return rows_frame(rows)

    def paired(self, final: pd.DataFrame, config, setting: str, methods, metric: str) -> dict[str, np.ndarray]:
        """The final runs of ``methods`` in one setting on ``metric``, restricted to the runs (seeds) every one of
        them has, in the order of the run: values paired by position, as the paired rules need."""
        series = {m: self.per_run(final, config, setting, m, metric) for m in methods}
        common = sorted(set.intersection(*(set(v.index) for v in series.values())))
        return {m: v[common].to_numpy() for m, v in series.items()}

    def paper_column(self, setting: str, metric: str) -> str:
        return f"{setting} {metric}" if self.table_metrics else setting

    def paper_number(self, method: str, setting: str, metric: str) -> tuple[float | None, float | None]:
        column = self.paper_column(setting, metric)
        return self.paper.get(method, {}).get(column), self.paper_sd.get(method, {}).get(column)

    def paper_difference(self, a: str, b: str, setting: str, metric: str) -> np.ndarray | None:
        """``paper_runs`` of the paper's A − B on ``metric`` in ``setting`` (None without numbers and spreads)."""
        (ma, sa), (mb, sb) = self.paper_number(a, setting, metric), self.paper_number(b, setting, metric)
        return paper_runs([(1, ma, sa), (-1, mb, sb)])

    def on_paper(self, verdict_of, differences: dict) -> str:
        """The verdict of ``verdict_of(differences)`` when every setting has the paper's numbers, else why not."""
        if not differences or any(d is None for d in differences.values()):
            return "— (no mean ± spread in the paper)"
        return verdict_of(differences).verdict

    def _paper_text(self, a: str, b: str, metric: str, config) -> str:
        parts = []
        settings = list(self.settings(config))
        for setting in settings:
            (ma, _), (mb, _) = self.paper_number(a, setting, metric), self.paper_number(b, setting, metric)
            text = "—" if ma is None or mb is None else f"{ma:.2f} vs {mb:.2f}"
            parts.append(text if len(settings) == 1 else f"{text} ({setting})")
        return "; ".join(parts)

    def better_claim(self, results, config, claim, better: str, worse: str, metric=None, paper=None) -> Row:
        """``better`` beats ``worse`` on ``metric`` in every setting: ``verdicts.paired_better`` on the paired
        (same seed) final runs of each setting — a one-sided t-test of the paired differences per setting,
        combined over the settings by ``verdicts.combine``. Higher is better, except for the (absolute) bias
        gap, where smaller is better. The paper's column shows its numbers (default) and the same rule on them."""
        metric = metric or self.table_metric
        higher = metric != "gap"
        paper = paper or self._paper_text(better, worse, metric, config)
        settings = list(self.settings(config))
        on_paper = self.on_paper(
            lambda d: V.paired_better(d, {s: np.zeros_like(v) for s, v in d.items()}, higher=higher),
            {s: self.paper_difference(better, worse, s, metric) for s in settings},
        )
        masked = bool({better, worse} & set(MASK_VARIANTS))
        if better not in config["methods"] or worse not in config["methods"]:
            return Row(C.not_run(claim, paper, f"needs methods {better} and {worse}"), on_paper, masked)
        final = self.final(results, config)
        if final.empty:
            return Row(C.not_run(claim, paper, "no runs"), on_paper, masked)
        a, b = {}, {}
        for setting in settings:
            pair = self.paired(final, config, setting, (better, worse), metric)
            a[setting], b[setting] = pair[better], pair[worse]
        return Row(C.judged(claim, paper, V.paired_better(a, b, higher=higher)), on_paper, masked)

    def best_claim(self, results, config, claim, paper, method: str = "gba", metric=None, settings=None) -> Row:
        """``method`` is better than every other method run on ``metric``, in every one of ``settings`` (default:
        all): ``verdicts.best_of`` per setting on the paired final runs (significantly better than *each* rival,
        one-sided paired t-tests), combined over the settings by ``verdicts.combine``. Higher is better, except
        for the (absolute) bias gap. On the paper's numbers, the rivals are every other method of its table."""
        metric = metric or self.table_metric
        higher = metric != "gap"
        labels = settings or list(self.settings(config))
        rivals = [m for m in self.paper if m != method]

        def paper_best(differences):
            per_setting = {
                s: (method, {method: np.zeros(PAPER_RUNS), **{r: -d for r, d in zip(rivals, ds, strict=True)}})
                for s, ds in differences.items()
            }
            return V.combine(V.best_of, per_setting, higher=higher)

        differences = {s: [self.paper_difference(method, r, s, metric) for r in rivals] for s in labels}
        on_paper = (
            "— (no mean ± spread in the paper)"
            if not rivals or any(d is None for ds in differences.values() for d in ds)
            else paper_best(differences).verdict
        )
        masked = bool(set(config["methods"]) & set(MASK_VARIANTS))
        if method not in config["methods"] or len(config["methods"]) < 2:
            return Row(C.not_run(claim, paper, f"needs {method} and another method"), on_paper, masked)
        final = self.final(results, config)
        if final.empty:
            return Row(C.not_run(claim, paper, "no runs"), on_paper, masked)
        per_setting = {s: (method, self.paired(final, config, s, config["methods"], metric)) for s in labels}
        verdict = V.combine(V.best_of, per_setting, higher=higher)
        return Row(C.judged(claim, paper, verdict), on_paper, masked)


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
