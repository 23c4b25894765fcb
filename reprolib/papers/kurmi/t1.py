"""K-T1 — Kurmi et al. (2022), Table 1: CIFAR-10S (colour / greyscale skew), aligned and conflicting accuracy.

Also the base of the chapters on the same data: K-T5 (ablations), K-F13 (curves), K-F5 (significance).
"""

from __future__ import annotations

from ... import claims as C
from ... import params as P
from ... import verdicts as V
from .cifar_i import DomainSkewTask
from .common import COURSE_LAMBDAS, KurmiChapter, part3_model, part3_recipe
from .methods import ADVERSARIAL_FAMILY
from .skew_tasks import GreyColourTask

T1_METRICS = ["aligned", "conflicting", "mean", "gap"]


def cifar10s_paper(rows: dict[str, tuple], setting: str = "CIFAR-10S") -> dict:
    """The paper's numbers {method: (aligned, conflicting, mean, gap)} keyed as the table's columns."""
    return {m: {f"{setting} {k}": v for k, v in zip(T1_METRICS, values, strict=True)} for m, values in rows.items()}


TABLE_1 = cifar10s_paper(
    {
        "vanilla": (94.75, 82.30, 88.43, 12.45),
        "lff": (90.33, 68.64, 79.49, 21.69),
        "domain_independent": (92.38, 91.86, 92.12, 0.52),
        "adversarial": (86.98, 86.61, 86.80, 0.37),
        "gba": (91.95, 92.05, 92.00, 0.10),
    }
)
TABLE_2 = cifar10s_paper(
    {
        "vanilla": (87.94, 69.39, 78.67, 18.55),
        "lff": (87.01, 56.87, 71.93, 30.14),
        "domain_independent": (88.39, 78.14, 83.26, 10.25),
        "adversarial": (85.52, 75.74, 80.63, 9.78),
        "gba": (88.81, 79.46, 84.41, 9.35),
    },
    "CIFAR-I",
)


def _presets(methods, lambdas_course=tuple(COURSE_LAMBDAS), runs_course=3):
    common = {
        "skew": 0.95,
        "methods": methods,
        "lambda_schedule": "constant",
        "discriminator_input": "unmasked",
        "test_protocol": "true",
    }
    return {
        "smoke": {
            **common,
            "dataset": "digits",
            "runs": 2,
            "epochs": 1,
            "lr": 0.05,
            "batch_size": 64,
            "lambdas": [0.1, 1.0],
            "model": "resnet8",
            "width": 4,
        },
        "course": {
            **common,
            "dataset": "digits",
            "runs": runs_course,
            "epochs": 15,
            "lr": 0.05,
            "batch_size": 64,
            "lambdas": list(lambdas_course),
            "model": "resnet8",
            "width": 8,
        },
        "paper": {
            **common,
            "dataset": "cifar10",
            "runs": 5,
            "epochs": 100,
            "lr": 0.01,
            "batch_size": 128,
            "lambdas": [0.03, 0.1, 0.3, 1.0],
            "model": "resnet18",
            "width": 64,
        },
    }


class GreyColourChapter(KurmiChapter):
    """Chapters on CIFAR-10S (``cifar10`` at ``paper``) or its stand-in, the 8×8 digits in colour or grey."""

    # digits: the embedded stand-in; cifar10: CIFAR-10S; cifar_i: CIFAR-I (Table 2), which needs CINIC-10
    parameters = {
        "dataset": P.choice("digits", "cifar10", "cifar_i"),
        "skew": P.number(0.5, 1, open_high=True),
        **KurmiChapter.parameters,
    }
    table_metrics = tuple(T1_METRICS)

    def settings(self, config):
        if config["dataset"] == "cifar_i":  # Table 2: the second domain is ImageNet (reprolib.cifar_i)
            return {"CIFAR-I": DomainSkewTask(dataset="cifar10", skew=config["skew"])}
        return {"CIFAR-10S": GreyColourTask(dataset=config["dataset"], skew=config["skew"])}

    def model_spec(self, config):
        """ResNet with its last fully connected layer replaced by two (hidden units: 4 × width)."""
        return part3_model(config["model"], config["width"], 4 * config["width"])

    def recipe(self, config):
        """Zero-padded random crops and flips (4 px on CIFAR, 1 px on the 8×8 digits)."""
        padding = 1 if config["dataset"] == "digits" else 4
        return part3_recipe(config["epochs"], config["lr"], config["batch_size"], "pad_crop_flip", padding)

    def curves(self, method):
        """Per-epoch test curves for the methods with a discriminator (K-F13 and Fig. 4 draw them)."""
        return method in ADVERSARIAL_FAMILY


class KurmiT1(GreyColourChapter):
    id = "K-T1"
    title = "Table 1: CIFAR-10S, aligned and conflicting accuracy"
    notebook = "kurmi_t1.md"
    presets = _presets(["vanilla", "lff", "domain_independent", "adversarial", "gba"])
    paper = {m: {**TABLE_1[m], **TABLE_2[m]} for m in TABLE_1}  # Table 2 shows when dataset="cifar_i"

    def claims(self, results, config):
        return C.claims_frame(
            [
                self.better_claim(
                    results,
                    config,
                    "GBA is more accurate than the adversarial method (mean)",
                    "92.00 vs 86.80",
                    "gba",
                    "adversarial",
                ),
                self.better_claim(
                    results, config, "GBA is more accurate than vanilla (mean)", "92.00 vs 88.43", "gba", "vanilla"
                ),
                self.better_claim(
                    results,
                    config,
                    "GBA has a smaller bias gap than vanilla",
                    "0.10 vs 12.45",
                    "gba",
                    "vanilla",
                    metric="gap",
                ),
                self.best_claim(
                    results,
                    config,
                    "GBA has the smallest bias gap of all methods",
                    "0.10 (next: adversarial 0.37)",
                    "gba",
                    metric="gap",
                ),
                self.gap_claim(results, config),
            ]
        )

    def gap_claim(self, results, config) -> C.Claim:
        """Vanilla is more accurate on bias-aligned than on bias-conflicting images: ``verdicts.paired_better``
        of its aligned over its conflicting accuracy, paired by run, in every setting (the *signed* gap: the
        direction is the claim here)."""
        claim, paper = "Vanilla training is biased (aligned > conflicting)", "12.45"
        if "vanilla" not in config["methods"]:
            return C.not_run(claim, paper, "needs vanilla")
        final = self.final(results, config)
        aligned = {s: self.per_run(final, config, s, "vanilla", "aligned").to_numpy() for s in self.settings(config)}
        conflicting = {
            s: self.per_run(final, config, s, "vanilla", "conflicting").to_numpy() for s in self.settings(config)
        }
        return C.judged(claim, paper, V.paired_better(aligned, conflicting))


CHAPTER = KurmiT1()
