"""C-6-SIRN — Cherepanova (2023), thesis chapter 6, §6.5 and Table 6.4: "fair features" by adversarial removal of
the sensitive attribute from frozen face embeddings do not give fair recognition.

Each run trains C-6-FR's baseline face recognition model (``c6.CHAPTER``'s task, model, method and recipe) and
keeps its embeddings; on them a sensitive-information removal network is trained per adversarial strength α and
penalized gender (``sirn.SirnSpec``, an artifact: computed once per configuration). Results per run: the gap
male − female on the training images (classification), the validation images (seen identities) and the test
identities (new), and the discriminator's gender accuracy on the test identities' projected features, at α = 0
(the SIRN without penalty: "before") and at every α > 0 ("after").
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ... import params as P
from ... import verdicts as V
from ...artifacts import load_artifact
from ...chapter import Chapter
from ...figures import mean_band, new_figure
from ...store import current_store, using_store
from ...sweep import RunSpec
from .c6 import CHAPTER as FR
from .c6 import SPLITS
from .common import claims_table, no_runs, number
from .faces import GROUPS
from .sirn import SirnSpec

__all__ = ["C6Sirn", "CHAPTER", "PENALIZED"]

PENALIZED = {"females": 1, "males": 0}  # Table 6.4's first column: the gender whose features the penalty moves
FACE_KEYS = (
    "source", "model", "width", "embedding_dim", "identities_per_group", "test_identities_per_group",
    "images_per_identity", "validation_images", "runs", "epochs", "lr", "batch_size", "side",
)  # fmt: skip

# Table 6.4 (ResNet-152, CelebA test identities), in %: (penalized, α) → male, female, gap, sensitive accuracy
THESIS = {
    ("females", 0): (95.9, 93.3, 2.6, 97.0),
    ("females", 1): (95.7, 92.5, 3.1, 78.2),
    ("females", 2): (95.1, 91.0, 4.1, 38.7),
    ("females", 3): (94.2, 88.7, 5.5, 38.7),
    ("males", 0): (95.9, 93.3, 2.6, 97.0),
    ("males", 1): (95.4, 93.2, 2.2, 90.5),
    ("males", 2): (92.8, 91.9, 0.9, 61.3),
    ("males", 3): (90.2, 90.1, 0.1, 61.3),
}


def _face_preset(preset: str) -> dict:
    return {k: FR.presets[preset][k] for k in FACE_KEYS}


class C6Sirn(Chapter):
    id = "C-6-SIRN"
    claim_rules = ("positive",)
    title = "Table 6.4: adversarial removal of gender from face embeddings, on seen and on new identities"
    notebook = "cherepanova_c6_sirn.md"
    presets = {
        "smoke": {**_face_preset("smoke"), "alphas": [1.0], "sirn_epochs": 3},
        "course": {**_face_preset("course"), "alphas": [1.0, 2.0, 3.0], "sirn_epochs": 30},
        "paper": {**_face_preset("paper"), "alphas": [1.0, 2.0, 3.0], "sirn_epochs": 30},
    }
    parameters = {
        **{k: FR.parameters[k] for k in FACE_KEYS},
        "alphas": P.numbers(0, 100, open_low=True, unique=True),
        "sirn_epochs": P.integer(1, 1000),
        "female_spread": FR.parameters["female_spread"],
        "root": P.folder,
    }

    def check(self, config):
        FR.check({**config, "interventions": ["baseline"]})

    def specs(self, config):
        """The baseline face models, keeping their embeddings on every split."""
        fr_config = {**config, "interventions": ["baseline"]}
        return [replace(spec, keep_outputs=True) for spec in FR.specs(fr_config)]

    def sirn(self, config, spec: RunSpec, alpha: float, penalized: str) -> SirnSpec:
        """The SIRN of one run; at α = 0 the penalty is void, so both penalized genders share the males' one."""
        return SirnSpec(
            run_key=spec.key,
            task=spec.task,
            alpha=alpha,
            penalized=PENALIZED[penalized] if alpha > 0 else 0,
            epochs=config["sirn_epochs"],
            seed=spec.seed,
        )

    def results(self, config, store=None, specs=None):
        """One row per (run, penalized gender, α ≥ 0): the SIRN's accuracies and gaps per split and the
        discriminator's accuracy (computed once per configuration, then read from the store)."""
        store = store or current_store()
        specs = specs if specs is not None else self.specs(config)
        done = super().results(config, store, specs)
        if done.empty:
            return done
        rows = []
        with using_store(store):
            for spec in specs:
                if spec.key not in set(done["key"]):
                    continue
                for penalized in PENALIZED:
                    for alpha in (0.0, *config["alphas"]):
                        values = load_artifact(self.sirn(config, spec, alpha, penalized))
                        row = {"run": spec.tags["run"], "penalized": penalized, "alpha": alpha}
                        rows.append({**row, **{k: float(v) for k, v in values.items()}})
        return pd.DataFrame(rows)

    def paired(self, results, penalized: str, column: str, alpha: float) -> np.ndarray:
        """α = 0 − ``alpha`` of ``column`` per run (positive: it fell), for one penalized gender."""
        part = results[results["penalized"] == penalized].pivot(index="run", columns="alpha", values=column)
        return (part[0.0] - part[alpha]).dropna().to_numpy()

    def table(self, results, config) -> pd.DataFrame:
        """Table 6.4 (test identities) with the seen identities beside it: per penalized gender and α, male and
        female accuracy, the gap and the discriminator's accuracy (%), this run's mean beside the thesis's."""
        rows = []
        for penalized in PENALIZED:
            for alpha in (0.0, *config["alphas"]):
                part = (
                    results[(results["penalized"] == penalized) & (results["alpha"] == alpha)]
                    if len(results)
                    else results
                )
                thesis = THESIS.get((penalized, alpha))
                row = {"penalized": penalized, "α": f"{alpha:g}"}
                for i, (column, label) in enumerate(
                    (
                        ("test_male", "M"),
                        ("test_female", "F"),
                        ("test_gap", "gap"),
                        ("test_sensitive_accuracy", "sens acc"),
                    )
                ):
                    row[f"test {label} (thesis)"] = "—" if thesis is None else f"{thesis[i]:g}"
                    row[f"test {label} (this run)"] = number(part[column].mean() * 100 if len(part) else np.nan, 1)
                for split in ("train", "validation"):
                    row[f"{split} gap (this run)"] = number(
                        part[f"{split}_gap"].mean() * 100 if len(part) else np.nan, 1
                    )
                rows.append(row)
        return pd.DataFrame(rows)

    def figure(self, results, config):
        """The gap male − female on the training images, seen identities and new identities, and the
        discriminator's accuracy, against α for each penalized gender: mean and 95% band over runs."""
        fig, axes = new_figure(len(PENALIZED) + 1, width=4.0, height=3.2)
        if results.empty:
            axes[0][0].text(0.5, 0.5, "no runs stored", ha="center", va="center")
            return fig
        for c, penalized in enumerate(PENALIZED):
            part = results[results["penalized"] == penalized].assign(
                **{s: lambda f, s=s: f[f"{s}_gap"] * 100 for s in SPLITS}
            )
            for split, colour in zip(SPLITS, ("C2", "C1", "C0"), strict=True):
                mean_band(axes[0][c], part, "alpha", split, label=split, color=colour)
            axes[0][c].axhline(0, color="k", linewidth=0.8)
            axes[0][c].set(title=f"penalize {penalized}", xlabel="α", ylabel="male − female accuracy (points)")
            axes[0][c].legend(fontsize="small")
            shown = results[results["penalized"] == penalized].assign(acc=lambda f: f["test_sensitive_accuracy"] * 100)
            mean_band(axes[0][-1], shown, "alpha", "acc", label=f"penalize {penalized}")
        axes[0][-1].set(title="discriminator on new identities", xlabel="α", ylabel="gender accuracy (%)")
        axes[0][-1].legend(fontsize="small")
        fig.tight_layout()
        return fig

    def claims(self, results, config) -> pd.DataFrame:
        if results.empty:
            return claims_table([(c, p, V.not_run(no_runs(self, config))) for c, p in CLAIMS])
        top = max(config["alphas"])
        sensitive = {p: self.paired(results, p, "test_sensitive_accuracy", top) for p in PENALIZED}
        males = {
            "test gap narrows": self.paired(results, "males", "test_gap", top),
            "male accuracy falls": self.paired(results, "males", "test_male", top),
        }
        females = {
            "test gap widens": -self.paired(results, "females", "test_gap", top),
            "female accuracy falls": self.paired(results, "females", "test_female", top),
        }
        return claims_table(
            [(*CLAIMS[0], V.positive(sensitive)), (*CLAIMS[1], V.positive(males)), (*CLAIMS[2], V.positive(females))]
        )

    def summary(self, results, config):
        out = {}
        top = max(config["alphas"])
        for penalized in PENALIZED:
            for alpha, name in ((0.0, "before"), (top, "after")):
                part = (
                    results[(results["penalized"] == penalized) & (results["alpha"] == alpha)]
                    if len(results)
                    else results
                )
                for column in (
                    "train_gap",
                    "validation_gap",
                    "test_gap",
                    "test_sensitive_accuracy",
                    *[f"test_{g}" for g in GROUPS],
                ):
                    value = part[column].mean() * 100 if len(part) else np.nan
                    out[f"{penalized}_{name}_{column}"] = number(value, 1)
        out["top_alpha"] = f"{top:g}"
        return out


CLAIMS = [
    (
        "A sufficient adversarial penalty lowers the discriminator's gender accuracy on the projected features "
        "(both penalized genders, largest α)",
        "Table 6.4: 97.0% → 38.7% (penalize females), 61.3% (males) at α = 3",
    ),
    (
        "Penalizing males narrows the test gap at the expense of male accuracy (largest α)",
        "Table 6.4: gap 2.6 → 0.1, male accuracy 95.9 → 90.2 at α = 3",
    ),
    (
        "Penalizing females widens the test gap through lower female accuracy (largest α)",
        "Table 6.4: gap 2.6 → 5.5, female accuracy 93.3 → 88.7 at α = 3",
    ),
]

CHAPTER = C6Sirn()
