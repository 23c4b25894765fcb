"""K-T4 — Kurmi et al. (2022), Table 4: unbiased accuracy on Colored MNIST at 95% and 98% skew."""

from __future__ import annotations

from ... import claims as C
from ... import params as P
from .common import (
    COMMON_PRESET,
    COURSE_GRIDS,
    COURSE_OPTIMISER,
    PAPER_GRIDS,
    SMOKE_GRIDS,
    KurmiChapter,
    Row,
    part3_model,
)
from .course import COURSE, COURSE_RUNS
from .skew_tasks import ColourSkewTask

ALL_METHODS = ["vanilla", "domain_independent", "filter_drop", "group_dro", "repair", "lff", "adversarial", "gba"]
COMMON = {  # what the presets share; each overrides the rest
    **COMMON_PRESET,
    "skews": [0.95, 0.98],
    "methods": ALL_METHODS,
    "lr": 0.05,
    "model": "mlp",
    "width": 100,
}


class KurmiT4(KurmiChapter):
    id = "K-T4"
    claim_rules = ("paired_better", "best_of")
    title = "Table 4: Colored MNIST at 95% and 98% skew"
    notebook = "kurmi_t4.md"
    table_metric = "accuracy"  # Table 4 reports accuracy on the unbiased test set (Nam et al. 2020)
    # paper: LfF's released Colored-MNIST protocol (Kurmi et al. take the data set from Nam et al. 2020 and give no
    # optimiser): Adam at 10⁻³, no weight decay, batch 256, 100 epochs, the MLP with three hidden layers of 100.
    presets = {
        "smoke": {
            **COMMON,
            **COURSE_OPTIMISER,
            **SMOKE_GRIDS,
            "dataset": "digits",
            "skews": [0.95],
            "methods": ["vanilla", "adversarial", "gba"],
            "runs": 2,
            "epochs": 1,
            "batch_size": 64,
            "width": 16,
        },
        "course": {
            **COMMON,
            **COURSE_OPTIMISER,
            **COURSE_GRIDS,
            "dataset": "digits",
            "runs": COURSE_RUNS,  # rule 4 of ``papers.kurmi.course``
            "epochs": COURSE.get("epochs_colour_mnist", 20),  # set by the rules of ``papers.kurmi.course``
            "batch_size": 64,
        },
        "paper": {
            **COMMON,
            **PAPER_GRIDS,
            "dataset": "mnist",
            "runs": 5,
            "epochs": 100,
            "optimizer": "adam",
            "lr": 1e-3,
            "weight_decay": 0.0,
            "lr_step_epochs": 0,
            "batch_size": 256,
        },
    }
    parameters = {
        "dataset": P.choice("digits", "mnist"),  # digits: the embedded stand-in
        "skews": P.numbers(0.5, 1, open_high=True),
        **KurmiChapter.parameters,
    }
    paper = {
        "vanilla": {"95%": 77.63, "98%": 62.29},
        "domain_independent": {"95%": 65.82, "98%": 45.39},
        "filter_drop": {"95%": 78.44, "98%": 62.31},
        "group_dro": {"95%": 84.50, "98%": 76.30},
        "repair": {"95%": 82.51, "98%": 72.86},
        "lff": {"95%": 85.39, "98%": 80.48},
        "adversarial": {"95%": 80.35, "98%": 64.83},
        "gba": {"95%": 87.92, "98%": 79.11},
    }
    paper_sd = {  # the ± of Table 4
        "vanilla": {"95%": 0.44, "98%": 1.47},
        "domain_independent": {"95%": 0.81, "98%": 1.20},
        "filter_drop": {"95%": 0.58, "98%": 1.72},
        "group_dro": {"95%": 0.46, "98%": 1.53},
        "repair": {"95%": 0.59, "98%": 1.47},
        "lff": {"95%": 0.94, "98%": 0.45},
        "adversarial": {"95%": 0.52, "98%": 0.34},
        "gba": {"95%": 0.6, "98%": 1.6},
    }

    def settings(self, config):
        return {
            f"{round(skew * 100):g}%": ColourSkewTask(dataset=config["dataset"], skew=skew) for skew in config["skews"]
        }

    def model_spec(self, config):
        return part3_model(config["model"], config["width"])

    def claim_rows(self, results, config):
        return [
            # §Results, Colored MNIST: "the proposed model improves on the adversarial method by a large number"
            self.better_claim(
                results, config, "GBA improves the adversarial method (unbiased accuracy)", "gba", "adversarial"
            ),
            self.better_claim(results, config, "GBA improves on vanilla training", "gba", "vanilla"),
            self.better_claim(results, config, "Adversarial training improves on vanilla", "adversarial", "vanilla"),
            # "along with outperforming the recent methods": Table 4 has GBA best at 95% only
            self.best_at(
                results,
                config,
                "GBA outperforms every other method at 95% skew",
                "87.92 (next: LfF 85.39)",
                "gba",
                "95%",
            ),
            self.best_at(
                results, config, "LfF is the most accurate method at 98% skew", "80.48 (next: GBA 79.11)", "lff", "98%"
            ),
            # "the recent domain independent network performs poorly in this multiple domains setting"
            self.better_claim(
                results,
                config,
                "Domain-independent training is worse than vanilla with ten bias values",
                "vanilla",
                "domain_independent",
            ),
        ]

    def best_at(self, results, config, claim, paper, method, skew) -> Row:
        """``method`` is the most accurate at one skew only (``best_claim`` on that setting): Table 4 shows GBA
        best at 95% and LfF best at 98% (GBA second), so "the most accurate method" is judged skew by skew, as
        the table shows it."""
        if skew not in self.settings(config):
            on_paper = self.best_claim(results, {**config, "methods": []}, claim, paper, method, settings=[skew])
            return Row(C.not_run(claim, paper, f"no {skew} skew"), on_paper.on_paper, True)
        return self.best_claim(results, config, claim, paper, method, settings=[skew])


CHAPTER = KurmiT4()
