"""K-T3 — Kurmi et al. (2022), Table 3: CelebA, HeavyMakeup and HairColor as targets, gender as the bias."""

from __future__ import annotations

from ... import claims as C
from ... import params as P
from ... import verdicts as V
from ...params import ParameterError
from .celeba import ALIGNMENTS, CelebaTask
from .common import (
    COMMON_PRESET,
    COURSE_GRIDS,
    COURSE_OPTIMISER,
    PAPER_GRIDS,
    SMOKE_GRIDS,
    KurmiChapter,
    Row,
    paper_runs,
    part3_model,
    part3_recipe,
)
from .course import COURSE, COURSE_RUNS
from .skew_tasks import GreyColourTask
from .t1 import T1_METRICS

TARGETS = ("HeavyMakeup", "HairColor")
# The embedded stand-ins: a binary digit target with colour/grey as the bias attribute, at the share of
# aligned training images of the real task (CelebA: ≈ 0.95 of heavy-makeup faces are women's; the blond
# share of women's hair makes HairColor less skewed). The numbers are this book's choice, not the paper's.
STAND_IN_SKEW = {"HeavyMakeup": 0.95, "HairColor": 0.9}
ALL_METHODS = ["vanilla", "lff", "domain_independent", "group_dro", "adversarial", "gba"]


# The share of its vanilla gap the adversarial method must keep for "unable to debias" (Table 3's caption): it
# keeps 96% and 92% in Table 3, GBA 52% and 22%. Fixed before any run was judged; calibrated in
# ``papers.kurmi.calibration``.
KEPT_GAP_SHARE = 0.75


def _preset(dataset, runs, epochs, lr, batch, model, width, grids, optimiser, methods=ALL_METHODS, **extra):
    return {
        **COMMON_PRESET,
        **optimiser,
        **grids,
        "dataset": dataset,
        "celeba_root": None,
        "image_size": 64,
        "alignment": "correlation",
        "noise": 0.0,
        "methods": methods,
        "runs": runs,
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch,
        "model": model,
        "width": width,
        **extra,
    }


class KurmiT3(KurmiChapter):
    id = "K-T3"
    claim_rules = ("best_of", "paired_better", "positive")
    title = "Table 3: CelebA, HeavyMakeup and HairColor vs gender"
    notebook = "kurmi_t3.md"
    # digits: the embedded stand-in; celeba: CelebA from ``celeba_root`` (a folder containing celeba/)
    parameters = {
        "dataset": P.choice("digits", "celeba"),
        "celeba_root": P.folder,
        "image_size": P.integer(8, 512),
        "alignment": P.choice(*ALIGNMENTS),
        "noise": P.number(0, 255),  # the stand-in's pixel noise (``papers.kurmi.course``, rule 2)
        **KurmiChapter.parameters,
    }
    table_metrics = tuple(T1_METRICS)
    # paper: LfF's released CelebA protocol where the paper is silent (book/paper-scale.md): an ImageNet-pretrained
    # ResNet-18 at 224 × 224 (``resnet18_imagenet``, weights from the torch hub cache), Adam 10⁻⁴, weight decay 10⁻⁴,
    # batch 256, 200 epochs, flips; every layer trained (the adversarial methods act on the features).
    presets = {
        "smoke": _preset(
            "digits",
            2,
            1,
            0.05,
            64,
            "mlp",
            16,
            SMOKE_GRIDS,
            COURSE_OPTIMISER,
            ["vanilla", "adversarial", "gba"],
            noise=COURSE.get("noise_celeba", 0.0),
        ),
        # course: the training length and the stand-in's pixel noise set by the rules of ``papers.kurmi.course``
        # (validation accuracy only)
        "course": _preset(
            "digits",
            COURSE_RUNS,
            COURSE.get("epochs_celeba", 20),
            0.05,
            64,
            "mlp",
            100,
            COURSE_GRIDS,
            COURSE_OPTIMISER,
            noise=COURSE.get("noise_celeba", 0.0),
        ),
        "paper": _preset(
            "celeba",
            5,
            200,
            1e-4,
            256,
            "resnet18_imagenet",
            64,
            PAPER_GRIDS,
            {"optimizer": "adam", "weight_decay": 1e-4, "lr_step_epochs": 0},
            image_size=224,
        ),
    }
    paper = {
        m: {f"{t} {k}": v for t, row in zip(TARGETS, rows, strict=True) for k, v in zip(T1_METRICS, row, strict=True)}
        for m, rows in {
            "vanilla": ((92.44, 31.46, 61.95, 60.98), (90.58, 57.35, 73.97, 33.23)),
            "lff": ((83.85, 45.54, 64.69, 38.31), (88.85, 80.24, 84.55, 8.61)),
            "domain_independent": ((79.88, 43.24, 61.56, 36.64), (90.97, 79.25, 85.11, 7.44)),
            "group_dro": ((79.28, 46.24, 62.76, 33.04), (89.68, 81.41, 85.55, 8.27)),
            "adversarial": ((92.07, 33.79, 62.93, 58.28), (93.4, 62.75, 78.08, 30.65)),
            "gba": ((81.49, 49.79, 65.64, 31.70), (90.67, 83.28, 86.98, 7.39)),
        }.items()
    }

    paper_sd = {  # the ± of Table 3
        m: {f"{t} {k}": v for t, row in zip(TARGETS, rows, strict=True) for k, v in zip(T1_METRICS, row, strict=True)}
        for m, rows in {
            "vanilla": ((0.74, 2.45, 1.28, 2.56), (0.34, 0.21, 0.20, 0.4)),
            "lff": ((1.68, 4.28, 2.29, 4.60), (1.27, 2.16, 1.25, 2.5)),
            "domain_independent": ((1.71, 4.33, 2.31, 5.64), (3.71, 3.33, 2.67, 3.2)),
            "group_dro": ((1.20, 3.61, 2.22, 3.22), (0.65, 1.47, 0.88, 2.0)),
            "adversarial": ((2.88, 3.81, 2.38, 4.77), (0.91, 3.47, 1.79, 5.6)),
            "gba": ((1.91, 3.15, 1.55, 3.10), (1.01, 1.83, 1.04, 2.1)),
        }.items()
    }

    def settings(self, config):
        if config["dataset"] == "celeba":
            return {
                t: CelebaTask(
                    target=t, image_size=config["image_size"], root=config["celeba_root"], alignment=config["alignment"]
                )
                for t in TARGETS
            }
        noise = config["noise"]
        return {t: GreyColourTask(dataset="digits", skew=STAND_IN_SKEW[t], binary=True, noise=noise) for t in TARGETS}

    def check(self, config):
        if config["celeba_root"] is not None and config["dataset"] != "celeba":
            raise ParameterError(
                f"celeba_root is read only with dataset=celeba (this configuration uses {config['dataset']})"
            )
        if config["noise"] and config["dataset"] == "celeba":
            raise ParameterError(f"noise is the digits stand-in's knob, not CelebA's (got noise={config['noise']})")

    def model_spec(self, config):
        return part3_model(config["model"], config["width"], 4 * config["width"])

    def recipe(self, config):
        """Random horizontal flips on CelebA (LfF's training transform: a crop with no padding is a flip only); none
        on the digits stand-in."""
        augment = "pad_crop_flip" if config["dataset"] == "celeba" else "none"
        return part3_recipe(
            config["epochs"],
            config["lr"],
            config["batch_size"],
            augment,
            0,
            config["optimizer"],
            config["weight_decay"],
            config["lr_step_epochs"],
        )

    def claim_rows(self, results, config):
        return [
            # Table 3's bold entries
            self.best_claim(
                results,
                config,
                "GBA has the smallest bias gap (Table 3, bold)",
                "31.70 (HeavyMakeup); 7.39 (HairColor)",
                "gba",
                metric="gap",
            ),
            self.best_claim(
                results,
                config,
                "GBA has the best mean accuracy (Table 3, bold)",
                "65.64 (HeavyMakeup); 86.98 (HairColor)",
                "gba",
            ),
            # §Results, CelebA: "improving by 3% and 9% in average accuracy"; caption: "Using GBA, we reduce the
            # bias gap greatly when compared to the Adversarial method"
            self.better_claim(results, config, "GBA improves the adversarial method (mean)", "gba", "adversarial"),
            self.better_claim(
                results, config, "GBA reduces the adversarial method's bias gap", "gba", "adversarial", "gap"
            ),
            # "the proposed method outperforms the recent state-of-the-art methods like LfF"
            self.better_claim(results, config, "GBA is more accurate than LfF (mean)", "gba", "lff"),
            self.no_debias_claim(results, config),
        ]

    def no_debias_claim(self, results, config) -> Row:
        """Caption of Table 3: "the Simple Adversarial method was unable to debias the model": per seed, the
        adversarial gap exceeds ``KEPT_GAP_SHARE`` (¾) of vanilla's, |gap_adv| − ¾·|gap_vanilla| > 0
        (``verdicts.positive`` per target, combined over the targets)."""
        claim = f"The simple adversarial method does not debias (keeps > {KEPT_GAP_SHARE:.0%} of vanilla's gap)"
        settings = list(self.settings(config))
        paper = "; ".join(
            f"{self.paper['adversarial'][f'{s} gap']:.2f} vs {self.paper['vanilla'][f'{s} gap']:.2f}" for s in settings
        )
        on_paper = self.on_paper(
            V.positive,
            {
                s: paper_runs(
                    [
                        (1, *self.paper_number("adversarial", s, "gap")),
                        (-KEPT_GAP_SHARE, *self.paper_number("vanilla", s, "gap")),
                    ]
                )
                for s in settings
            },
        )
        if not {"vanilla", "adversarial"} <= set(config["methods"]):
            return Row(C.not_run(claim, paper, "needs vanilla and adversarial"), on_paper, False)
        final = self.final(results, config)
        kept = {}
        for s in settings:
            pair = self.paired(final, config, s, ("adversarial", "vanilla"), "gap")
            kept[s] = pair["adversarial"] - KEPT_GAP_SHARE * pair["vanilla"]
        return Row(C.judged(claim, paper, V.positive(kept)), on_paper, False)


CHAPTER = KurmiT3()
