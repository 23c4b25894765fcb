"""K-T4 — Kurmi et al. (2022), Table 4: unbiased accuracy on Colored MNIST at 95% and 98% skew."""

from __future__ import annotations

from ... import claims as C
from ... import params as P
from .common import COURSE_LAMBDAS, DEFAULT_DROP_FRACTION, KurmiChapter, part3_model
from .skew_tasks import ColourSkewTask

ALL_METHODS = ["vanilla", "domain_independent", "filter_drop", "group_dro", "repair", "lff", "adversarial", "gba"]
COMMON = {  # what the presets share; each overrides the rest
    "skews": [0.95, 0.98],
    "methods": ALL_METHODS,
    "lr": 0.05,
    "lambda_schedule": "constant",
    "discriminator_input": "unmasked",
    "test_protocol": "true",
    "model": "mlp",
    "width": 100,
    "drop_fraction": DEFAULT_DROP_FRACTION,
}


class KurmiT4(KurmiChapter):
    id = "K-T4"
    title = "Table 4: Colored MNIST at 95% and 98% skew"
    notebook = "kurmi_t4.md"
    table_metric = "accuracy"  # Table 4 reports accuracy on the unbiased test set (Nam et al. 2020)
    presets = {
        "smoke": {
            **COMMON,
            "dataset": "digits",
            "skews": [0.95],
            "methods": ["vanilla", "adversarial", "gba"],
            "runs": 2,
            "epochs": 1,
            "batch_size": 64,
            "lambdas": [0.1, 1.0],
            "width": 16,
        },
        "course": {
            **COMMON,
            "dataset": "digits",
            "runs": 3,
            "epochs": 20,
            "batch_size": 64,
            "lambdas": COURSE_LAMBDAS,
        },
        "paper": {
            **COMMON,
            "dataset": "mnist",
            "runs": 5,
            "epochs": 100,
            "lr": 0.01,
            "batch_size": 256,
            "lambdas": [0.01, 0.03, 0.1, 0.3, 1.0],
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

    def settings(self, config):
        return {
            f"{round(skew * 100):g}%": ColourSkewTask(dataset=config["dataset"], skew=skew) for skew in config["skews"]
        }

    def model_spec(self, config):
        return part3_model(config["model"], config["width"])

    def claims(self, results, config):
        rows = [
            self.better_claim(
                results,
                config,
                "GBA improves the adversarial method (unbiased accuracy)",
                "87.92 vs 80.35 (95%); 79.11 vs 64.83 (98%)",
                "gba",
                "adversarial",
            ),
            self.better_claim(
                results,
                config,
                "GBA improves on vanilla training",
                "87.92 vs 77.63 (95%); 79.11 vs 62.29 (98%)",
                "gba",
                "vanilla",
            ),
            self.better_claim(
                results,
                config,
                "Adversarial training improves on vanilla",
                "80.35 vs 77.63 (95%); 64.83 vs 62.29 (98%)",
                "adversarial",
                "vanilla",
            ),
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
            self.better_claim(
                results,
                config,
                "Domain-independent training is worse than vanilla with ten bias values",
                "65.82 vs 77.63 (95%); 45.39 vs 62.29 (98%)",
                "vanilla",
                "domain_independent",
            ),
        ]
        return C.claims_frame(rows)

    def best_at(self, results, config, claim, paper, method, skew) -> C.Claim:
        """``method`` is the most accurate at one skew only (``best_claim`` on that setting): Table 4 shows GBA
        best at 95% and LfF best at 98% (GBA second), so "the most accurate method" is judged skew by skew, as
        the table shows it."""
        if skew not in self.settings(config):
            return C.not_run(claim, paper, f"no {skew} skew")
        return self.best_claim(results, config, claim, paper, method, settings=[skew])


CHAPTER = KurmiT4()
