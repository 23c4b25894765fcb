"""C-3-LOWKEY — Cherepanova (2023), thesis chapter 3 (Cherepanova et al., ICLR 2021): LowKey, an adversarial filter
that protects a user's gallery photos from face identification (§3.3–3.8, Tables 3.1–3.10, Figs. 3.1–3.5).

The victims (§3.4, §3.8.1): face recognition models of two backbone families (IR and ResNet), two depths and two
heads (ArcFace, CosFace), trained with the focal loss through the core trainer, each run keeping its final
weights (``RunSpec(keep_model=True)``). The protocol (§3.4): on the test identities, ``probes_per_identity`` images
of every identity are probes, the rest its gallery; ``protected_identities`` users protect every gallery image
with LowKey (``lowkey.py``); a probe of a user succeeds at rank k when one of its k nearest gallery images (cosine
similarity in the defender's features) shows the same identity. The attacks: each victim alone (white-box on
itself, black-box on the others), the ensemble (§3.3.2), the ensemble without the Gaussian smoothing term (§3.6.2)
and with a stronger perceptual weight ("LowKey small", §3.8.4). Defenders may blur their inputs (§3.6.2) and users
may save their protected images as JPEG (§3.6.4). Every crafted image set is an artifact keyed by its
configuration (``lowkey.LowKeyImages``): crafted once, then read.

The commercial APIs of Table 3.1 and the Fawkes baseline are not run: see ``claims``.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import torch

from ... import params as P
from ... import verdicts as V
from ...artifacts import artifact_key, artifact_store, load_artifact
from ...chapter import Chapter, run_ids
from ...figures import mean_band, new_figure
from ...metrics import rank_k_accuracy
from ...models import parse_model
from ...store import RESULTS_ONLY, ResultsStore, current_store, using_store
from ...sweep import RunSpec, build_task, load_model, run_sweep
from . import c3_thesis as T
from .common import claims_table
from .faces import FaceIdentityTask
from .lowkey import LowKeyImages, gallery_split, gaussian_smoothing, jpeg_round_trip, perceptual_distance, to_unit
from .margins import HEADS, MarginSoftmax, face_recipe

__all__ = ["C3LowKey", "CHAPTER", "BACKBONES", "victim_name", "JPEG_TOLERANCE", "transfer_gaps"]

# backbone label (the thesis's naming: family-depth) → registered model name (``face_models``)
BACKBONES = {
    "IR-10": "face_ir10",
    "IR-18": "face_ir18",
    "IR-50": "face_ir50",
    "IR-152": "face_ir152",
    "RN-14": "face_resnet14",
    "RN-26": "face_resnet26",
    "RN-50": "face_resnet50",
    "RN-152": "face_resnet152",
}
HEAD_LETTERS = {"arcface": "A", "cosface": "C"}
ENSEMBLE, NO_GS, SMALL, CLEAN = "ensemble", "ensemble, no GS", "ensemble, small", "clean"
# "JPEG barely changes the protection": the mean accuracy moves by less than 5 points; fixed before any run
JPEG_TOLERANCE = 0.05
# LowKey's settings, the same at every scale: perceptual weight 0.05, Gaussian smoothing σ = 3 with window 7 (§3.8.1);
# 0.08 for LowKey small (§3.8.4); the defender's blur σ = 2 (§3.8.6); JPEG quality 75 (§3.6.4 names none).
LOWKEY_SETTINGS = {
    "alpha": 0.05,
    "alpha_small": 0.08,
    "smoothing_sigma": 3.0,
    "smoothing_window": 7,
    "defence_sigma": 2.0,
    "jpeg_quality": 75,
}
EVAL_COLUMNS = ["run", "attack", "steps", "jpeg", "defence", "defender", "rank1", "wide", "distance", "linf"]


def victim_name(backbone: str, head: str) -> str:
    """The thesis's model names: backbone, then "A" (ArcFace) or "C" (CosFace): IR-152A, RN-50C."""
    return f"{backbone}{HEAD_LETTERS[head]}"


def _family(name: str) -> str:
    return name.split("-")[0]


def _head(name: str) -> str:
    return name[-1]


def _names(name, value):
    """A model name or a list of them (checked against the victims in ``C3LowKey.check``)."""
    values = value if isinstance(value, list | tuple) else [value]
    if not values or not all(isinstance(v, str) for v in values):
        raise P.ParameterError(f"{name} must be a model name such as IR-18A or a list of them, got {value!r}")
    return list(dict.fromkeys(values))


def _depth(name: str) -> int:
    return int(name.split("-")[1][:-1])


def thesis_position(victims: list[str]) -> dict[str, str]:
    """Each victim's counterpart in the thesis's tables: the same family and head; of a family's two depths the
    shallower stands for 50 and the deeper for 152 (one depth: 50 when at most 50)."""
    out = {}
    for family in ("IR", "RN"):
        mine = [v for v in victims if _family(v) == family]
        depths = sorted({_depth(v) for v in mine})
        if len(depths) > 2:
            continue
        for v in mine:
            deeper = depths.index(_depth(v)) if len(depths) == 2 else int(_depth(v) > 50)
            out[v] = f"{family}-{(50, 152)[deeper]}{_head(v)}"
    return out


def transfer_gaps(table: pd.DataFrame, key) -> dict[str, float]:
    """Per group of defenders (``key``: family or head of a name), the mean over its defenders d of (mean accuracy
    under the attackers of the other group − mean accuracy under the attackers of d's own group other than d): > 0
    when attacks transfer better within a group (§3.6.1). ``table`` is attacker × defender accuracies of the single
    models; NaN for a group with no other same-group attacker."""
    out: dict[str, list[float]] = {}
    for d in table.columns:
        same = [a for a in table.index if key(a) == key(d) and a != d]
        cross = [a for a in table.index if key(a) != key(d)]
        if same and cross:
            out.setdefault(key(d), []).append(table.loc[cross, d].mean() - table.loc[same, d].mean())
    return {group: float(np.mean(values)) for group, values in out.items()}


class C3LowKey(Chapter):
    id = "C-3-LOWKEY"
    claim_rules = ("positive", "monotone", "equivalent_to_zero", "sign")
    title = "Tables 3.1–3.10, Figs. 3.1–3.5: LowKey, adversarial filters against face recognition"
    notebook = "cherepanova_c3_lowkey.md"
    presets = {
        "smoke": {
            "source": "synthetic",
            "backbones": ["IR-10", "RN-14"],
            "heads": ["arcface", "cosface"],
            "ensemble": ["IR-10A", "RN-14C"],
            "width": 4,
            "embedding_dim": 16,
            "identities_per_group": 12,
            "test_identities_per_group": 6,
            "images_per_identity": 8,
            "probes_per_identity": 2,
            "protected_identities": 6,
            "runs": 2,
            "epochs": 2,
            "lr": 0.05,
            "batch_size": 64,
            "side": 16,
            "steps": 4,
            "step_counts": [2, 4],
            "step_size": 0.01,
            **LOWKEY_SETTINGS,
            "wide_rank": 5,
        },
        "course": {
            "source": "synthetic",
            "backbones": ["IR-10", "IR-18", "RN-14", "RN-26"],
            "heads": ["arcface", "cosface"],
            "ensemble": ["IR-18A", "IR-18C", "RN-26A", "RN-26C"],
            "width": 8,
            "embedding_dim": 32,
            "identities_per_group": 40,
            "test_identities_per_group": 30,
            "images_per_identity": 12,
            "probes_per_identity": 2,
            "protected_identities": 20,
            "runs": 4,  # 3 cannot hold the monotone rule's size at 5 step counts (see the calibration)
            "epochs": 20,
            "lr": 0.05,
            "batch_size": 64,
            "side": 16,
            "steps": 50,
            "step_counts": [10, 20, 30, 40, 50],
            "step_size": 0.0025,
            **LOWKEY_SETTINGS,
            "wide_rank": 5,
        },
        "paper": {  # §3.4, §3.8.1, §3.8.6 on CelebA identities (FaceScrub and MS-Celeb-1M are not among the loaders)
            "source": "celeba",
            "backbones": ["IR-50", "IR-152", "RN-50", "RN-152"],
            "heads": ["arcface", "cosface"],
            "ensemble": ["IR-152A", "IR-152C", "RN-152A", "RN-152C"],
            "width": 64,
            "embedding_dim": 512,
            "identities_per_group": 4000,
            "test_identities_per_group": 265,  # 530 test identities, as FaceScrub's
            "images_per_identity": 16,
            "probes_per_identity": 2,
            "protected_identities": 100,
            "runs": 5,  # the thesis trains one model per setting; the verdicts need replicates (see the calibration)
            "epochs": 120,
            "lr": 0.1,
            "batch_size": 512,
            "side": 112,
            "steps": 50,
            "step_counts": [10, 20, 30, 40, 50],
            "step_size": 0.0025,
            **LOWKEY_SETTINGS,
            "wide_rank": 50,
        },
    }
    parameters = {
        "source": P.choice("synthetic", "celeba"),
        "backbones": P.choices(*BACKBONES),
        "heads": P.choices(*HEADS),
        "ensemble": _names,
        "width": P.integer(4, 512),
        "embedding_dim": P.integer(2, 1024),
        "identities_per_group": P.integer(2),
        "test_identities_per_group": P.integer(2),
        "images_per_identity": P.integer(3),
        "probes_per_identity": P.integer(1),
        "protected_identities": P.integer(1),
        "runs": P.integer(2, 100),
        "epochs": P.integer(1),
        "lr": P.number(0, 10, open_low=True),
        "batch_size": P.integer(1, 4096),
        "side": P.choice(16, 32, 64, 112),
        "steps": P.integer(1, 10_000),
        "step_counts": P.integers(1, 10_000),
        "step_size": P.number(0, 1, open_low=True),
        "alpha": P.number(0, 100),
        "alpha_small": P.number(0, 100),
        "smoothing_sigma": P.number(0, 20),
        "smoothing_window": P.integer(1, 63),
        "defence_sigma": P.number(0, 20, open_low=True),
        "jpeg_quality": P.integer(1, 100),
        "wide_rank": P.integer(2, 1000),
        "root": P.folder,
    }

    def check(self, config):
        victims = self.victims(config)
        unknown = [m for m in config["ensemble"] if m not in victims]
        if unknown:
            raise P.ParameterError(
                f"ensemble: {unknown[0]!r} is not a trained model; accepted: {', '.join(victims)} (backbones × heads)"
            )
        if max(config["step_counts"]) > config["steps"]:
            raise P.ParameterError(
                f"step_counts must lie in 1 … steps = {config['steps']}, got {config['step_counts']}"
            )
        if config["smoothing_window"] % 2 == 0:
            raise P.ParameterError(f"smoothing_window must be an odd integer, got {config['smoothing_window']}")
        if config["protected_identities"] > 2 * config["test_identities_per_group"]:
            raise P.ParameterError(
                f"protected_identities must be at most the {2 * config['test_identities_per_group']} test identities, "
                f"got {config['protected_identities']}"
            )
        if config["source"] == "synthetic" and config["probes_per_identity"] >= config["images_per_identity"] - 1:
            raise P.ParameterError(
                f"probes_per_identity must leave at least 2 gallery images of the {config['images_per_identity']} "
                f"images per identity, got {config['probes_per_identity']}"
            )

    # --- the victims ------------------------------------------------------------------------------------

    def victims(self, config) -> list[str]:
        return [victim_name(b, h) for b in config["backbones"] for h in config["heads"]]

    def task(self, config, run: int) -> FaceIdentityTask:
        data = {
            k: config[k]
            for k in ("source", "side", "identities_per_group", "test_identities_per_group", "images_per_identity")
        }
        return FaceIdentityTask(**data, root=config.get("root"), seed=run)

    def specs(self, config):
        """One model per (backbone, head, run), trained with the focal loss and the routine of §3.8.1
        (``margins.face_recipe``) and kept (its weights)."""
        specs = []
        for backbone in config["backbones"]:
            model = parse_model(BACKBONES[backbone]).replace(width=config["width"])
            for head in config["heads"]:
                method = MarginSoftmax(head=head, loss="focal", embedding_dim=config["embedding_dim"])
                for run in run_ids(config):
                    tags = {"victim": victim_name(backbone, head), "backbone": backbone, "head": head, "run": run}
                    task = self.task(config, run)
                    specs.append(
                        RunSpec(task, model, face_recipe(config), seed=run, method=method, keep_model=True, tags=tags)
                    )
        return specs

    # --- the attacks --------------------------------------------------------------------------------------

    def attack(self, config, run: int, keys: tuple[str, ...], **changes) -> LowKeyImages:
        """The artifact of one attack on run ``run``'s test identities with the stored models ``keys``."""
        fields = {
            "task": self.task(config, run),
            "models": keys,
            "probes_per_identity": config["probes_per_identity"],
            "protected_identities": config["protected_identities"],
            "split_seed": run,
            "steps": config["steps"],
            "step_size": config["step_size"],
            "alpha": config["alpha"],
            "sigma": config["smoothing_sigma"],
            "window": config["smoothing_window"],
            "snapshots": (config["steps"],),
            "seed": run,
        }
        return LowKeyImages(**{**fields, **changes})

    def attacks(self, config, run: int, keys: dict[str, str]) -> dict[str, LowKeyImages]:
        """Every attack of a run: each victim alone, the ensemble (kept after every step count), the ensemble
        without the smoothing term, and with the stronger perceptual weight."""
        ensemble = tuple(keys[m] for m in config["ensemble"])
        steps = tuple(sorted({*config["step_counts"], config["steps"]}))
        out = {name: self.attack(config, run, (key,)) for name, key in keys.items()}
        out[ENSEMBLE] = self.attack(config, run, ensemble, snapshots=steps)
        out[NO_GS] = self.attack(config, run, ensemble, sigma=0.0)
        out[SMALL] = self.attack(config, run, ensemble, alpha=config["alpha_small"])
        return out

    # --- running: train the victims, then craft every attack once -----------------------------------------

    def run(self, config, store=None, progress=True, **sweep_options):
        """Train the victims that are missing, craft the attacks that are missing (stored artifacts), then return
        the results; with ``$REPROLIB_RESULTS_ONLY`` set, neither trains nor crafts (``Chapter.run``)."""
        store = store or current_store()
        if not os.environ.get(RESULTS_ONLY):
            with using_store(store):
                run_sweep(self.specs(config), store, device=config["device"], progress=progress, **sweep_options)
                for run, keys in self.victim_keys(config, store).items():
                    for spec in self.attacks(config, run, keys).values():
                        load_artifact(spec, store)
        return super().run(config, store, progress, **sweep_options)

    def victim_keys(self, config, store: ResultsStore) -> dict[int, dict[str, str]]:
        """Per run whose victims are all trained, victim name → its run's key."""
        runs = super().results(config, store)
        out = {}
        for run, part in runs.groupby("run") if not runs.empty else ():
            keys = dict(zip(part["victim"], part["key"], strict=True))
            if set(keys) == set(self.victims(config)):
                out[int(run)] = keys
        return out

    # --- results ------------------------------------------------------------------------------------------

    def results(self, config, store=None, specs=None):
        """One row per (run, attack, step count, JPEG or not, defence, defender): rank-1 and rank-``wide_rank``
        accuracy of the protected users' probes, with the attack's mean perceptual distance (1 − SSIM) and largest
        pixel change. Reads stored victims and attacks only: a run whose attacks are not all crafted is left out."""
        store = store or current_store()
        runs = super().results(config, store, specs)
        if runs.empty:
            return pd.DataFrame(columns=EVAL_COLUMNS)
        crafted = artifact_store(store)
        rows = []
        for run, keys in self.victim_keys(config, store).items():
            if all(crafted.is_done(artifact_key(a)) for a in self.attacks(config, run, keys).values()):
                rows += self.evaluate_run(config, run, keys, store)
        frame = pd.DataFrame(rows, columns=EVAL_COLUMNS)
        clean = runs.set_index(["run", "victim"])["metrics.all"].rename("victim_rank1")
        return frame.join(clean, on=["run", "defender"])

    def evaluate_run(self, config, run: int, keys: dict[str, str], store: ResultsStore) -> list[dict]:
        """Every attack of run ``run`` against every defender (module docstring)."""
        test = build_task(self.task(config, run), config.get("root")).test
        ids = test.source_labels.numpy()
        probe, protected = gallery_split(ids, config["probes_per_identity"], config["protected_identities"], run)
        index = torch.as_tensor(np.flatnonzero(protected))
        scored = probe & np.isin(ids, ids[protected])
        clean = test.images[index]
        variants = [(CLEAN, 0, 0, "none", clean), (CLEAN, 0, 0, "blur", clean)]
        for name, spec in self.attacks(config, run, keys).items():
            arrays = load_artifact(spec, store)
            final = torch.as_tensor(arrays[f"step_{config['steps']}"])
            if name == ENSEMBLE:
                for t in sorted({*config["step_counts"], config["steps"]}):
                    variants.append((name, t, 0, "none", torch.as_tensor(arrays[f"step_{t}"])))
                variants.append(
                    (
                        name,
                        config["steps"],
                        config["jpeg_quality"],
                        "none",
                        jpeg_round_trip(final, config["jpeg_quality"]),
                    )
                )
                variants.append((name, config["steps"], 0, "blur", final))
            elif name == NO_GS:
                variants += [(name, config["steps"], 0, "none", final), (name, config["steps"], 0, "blur", final)]
            else:
                variants.append((name, config["steps"], 0, "none", final))
        rows = []
        for defender, key in keys.items():
            model = load_model(key, store)
            base = {}
            for defence in ("none", "blur"):
                sigma = config["defence_sigma"] if defence == "blur" else 0.0
                base[defence] = self._embed(model, test.images, sigma)
            for attack, steps, jpeg, defence, images in variants:
                sigma = config["defence_sigma"] if defence == "blur" else 0.0
                embeddings = base[defence].copy()
                embeddings[index.numpy()] = self._embed(model, images, sigma)
                rows.append(
                    {
                        "run": run,
                        "attack": attack,
                        "steps": steps,
                        "jpeg": jpeg,
                        "defence": defence,
                        "defender": defender,
                        "rank1": rank_k_accuracy(embeddings, ids, 1, probes=scored, gallery=~probe),
                        "wide": rank_k_accuracy(embeddings, ids, config["wide_rank"], probes=scored, gallery=~probe),
                        **_change(clean, images),
                    }
                )
        return rows

    @staticmethod
    def _embed(model, images, sigma: float) -> np.ndarray:
        with torch.no_grad():
            return model(gaussian_smoothing(to_unit(images), sigma)).double().numpy()

    # --- tables and figures ------------------------------------------------------------------------------------

    def transfer_table(self, results, config, rank: str = "wide") -> pd.DataFrame:
        """Table 3.2 (``wide``: rank-``wide_rank``, beside the thesis's rank-50) or 3.5 (``rank1``): accuracy (%) of
        each defender (column) on the protected users' probes, per attack (row), mean over runs; the thesis's value
        of the counterpart model in parentheses (``thesis_position``)."""
        thesis = T.TRANSFER["3.2" if rank == "wide" else "3.5"]
        part = results[(results["defence"] == "none") & (results["jpeg"] == 0)]
        part = part[(part["steps"] == config["steps"]) | (part["attack"] == CLEAN)]
        part = part[part["attack"].isin([CLEAN, *self.victims(config), ENSEMBLE])]
        mean = part.pivot_table(index="attack", columns="defender", values=rank, aggfunc="mean") * 100
        rows = [CLEAN, *self.victims(config), ENSEMBLE]
        position = thesis_position(self.victims(config))
        cells = {}
        for attack in rows:
            theirs = thesis.get(position.get(attack, attack))
            cells[attack] = {
                d: _pair(mean.loc[attack, d] if attack in mean.index and d in mean else np.nan, theirs, position.get(d))
                for d in self.victims(config)
            }
        return pd.DataFrame.from_dict(cells, orient="index").rename_axis("attacker")

    def blur_table(self, results, config, rank: str = "wide") -> pd.DataFrame:
        """Tables 3.3 (``wide``) and 3.10 (``rank1``): defenders that blur their inputs (σ = ``defence_sigma``), on
        clean images and on the ensemble's attacks computed without and with the smoothing term; % (thesis)."""
        thesis = T.BLURRED["3.3" if rank == "wide" else "3.10"]
        part = results[(results["defence"] == "blur") & (results["jpeg"] == 0)]
        mean = part.pivot_table(index="attack", columns="defender", values=rank, aggfunc="mean") * 100
        position = thesis_position(self.victims(config))
        cells = {}
        for label, attack in (("clean", CLEAN), ("without GS", NO_GS), ("with GS", ENSEMBLE)):
            cells[label] = {
                d: _pair(mean.loc[attack, d] if attack in mean.index else np.nan, thesis[label], position.get(d))
                for d in self.victims(config)
            }
        return pd.DataFrame.from_dict(cells, orient="index").rename_axis("attack (defender blurs)")

    def steps_table(self, results, config) -> pd.DataFrame:
        """Table 3.4: accuracy (%) after each number of attack steps (the ensemble), mean over defenders and runs,
        beside the thesis's commercial APIs on full-size images."""
        part = results[(results["defence"] == "none") & (results["jpeg"] == 0)]
        rows = []
        for steps in (0, *config["step_counts"]):
            attack = CLEAN if steps == 0 else ENSEMBLE
            sub = part[(part["attack"] == attack) & (part["steps"] == steps)]
            theirs = T.STEPS.get(steps, (np.nan,) * 3)
            rows.append(
                {
                    "steps": steps,
                    "rank-1": 100 * sub["rank1"].mean(),
                    f"rank-{config['wide_rank']}": 100 * sub["wide"].mean(),
                    "1 − SSIM": sub["distance"].mean(),
                    "thesis Amazon rank-1": theirs[0],
                    "thesis Amazon rank-50": theirs[1],
                    "thesis Microsoft rank-1": theirs[2],
                }
            )
        return pd.DataFrame(rows).set_index("steps").round(3)

    def robustness_table(self, results, config) -> pd.DataFrame:
        """§3.6.4 and §3.8.4: the ensemble's images saved as PNG and as JPEG, and LowKey small; accuracy (%), mean
        over defenders and runs, with the mean perceptual distance, beside the thesis's numbers."""
        part = results[(results["defence"] == "none") & (results["steps"] == config["steps"])]
        ensemble_small = np.mean(T.TRANSFER["3.8"]["ensemble"])
        ensemble_normal = np.mean(T.TRANSFER["3.6"]["ensemble"])
        rows = []
        for label, attack, jpeg, paper in (
            ("PNG", ENSEMBLE, 0, f"Amazon rank-50 {T.JPEG['PNG'][0]}, Microsoft rank-1 {T.JPEG['PNG'][1]}; "
             f"UMDFaces ensemble rank-50 {ensemble_normal:.1f} (Table 3.6, mean of defenders)"),
            ("JPEG", ENSEMBLE, config["jpeg_quality"], f"Amazon rank-50 {T.JPEG['JPEG'][0]}, "
             f"Microsoft rank-1 {T.JPEG['JPEG'][1]}"),
            ("LowKey small", SMALL, 0, f"Amazon rank-50 17.2, Microsoft rank-1 5.5; UMDFaces ensemble rank-50 "
             f"{ensemble_small:.1f} (Table 3.8)"),
        ):  # fmt: skip
            sub = part[(part["attack"] == attack) & (part["jpeg"] == jpeg)]
            rows.append(
                {
                    "images": label,
                    "rank-1": 100 * sub["rank1"].mean(),
                    f"rank-{config['wide_rank']}": 100 * sub["wide"].mean(),
                    "1 − SSIM": sub["distance"].mean(),
                    "thesis (%)": paper,
                }
            )
        return pd.DataFrame(rows).set_index("images").round(3)

    def api_table(self) -> pd.DataFrame:
        """Table 3.1, the thesis's numbers: commercial APIs, not run at this scale (see the claims)."""
        frame = pd.DataFrame.from_dict(
            T.APIS, orient="index", columns=["Amazon rank-1", "Amazon rank-50", "Microsoft rank-1"]
        )
        return frame.assign(**{"this book": V.NOT_RUN}).rename_axis("gallery images")

    def figure(self, results, config):
        """(a) Table 3.2 as a heat map: rank-``wide_rank`` accuracy of each defender under each attack, mean over
        runs (lighter: a more successful attack); (b) Table 3.4: accuracy against the number of attack steps, mean
        over defenders, 95% band over runs; (c) Tables 3.3 and 3.10: defenders that blur, mean over defenders."""
        fig, axes = new_figure(3, width=4.6, height=3.8)
        victims = self.victims(config)
        part = results[(results["defence"] == "none") & (results["jpeg"] == 0)]
        final = part[(part["steps"] == config["steps"]) | (part["attack"] == CLEAN)]
        rows = [CLEAN, *victims, ENSEMBLE]
        matrix = final.pivot_table(index="attack", columns="defender", values="wide").reindex(
            index=rows, columns=victims
        )
        ax = axes[0][0]
        ax.imshow(matrix.to_numpy() * 100, cmap="Blues", vmin=0, vmax=100, aspect="auto")
        for (i, j), value in np.ndenumerate(matrix.to_numpy() * 100):
            if np.isfinite(value):
                ax.text(
                    j, i, f"{value:.0f}", ha="center", va="center", fontsize=6, color="white" if value > 60 else "k"
                )
        ax.set_xticks(range(len(victims)), victims, rotation=90, fontsize=6)
        ax.set_yticks(range(len(rows)), rows, fontsize=6)
        ax.set(xlabel="defender", ylabel="attacker", title=f"rank-{config['wide_rank']} accuracy (%)")

        ax = axes[0][1]
        steps = part[(part["attack"] == ENSEMBLE) | (part["attack"] == CLEAN)]
        per_run = steps.groupby(["run", "steps"])[["rank1", "wide"]].mean().reset_index()
        for column, label, colour in (("rank1", "rank-1", "C0"), ("wide", f"rank-{config['wide_rank']}", "C1")):
            mean_band(ax, per_run, "steps", column, label=f"this run, {label}", color=colour)
        thesis = pd.DataFrame.from_dict(T.STEPS, orient="index") / 100
        ax.plot(thesis.index, thesis[0], "k--", marker="s", label="thesis, Amazon rank-1")
        ax.plot(thesis.index, thesis[1], "k:", marker="^", label="thesis, Amazon rank-50")
        ax.set(xlabel="attack steps (0: clean)", ylabel="accuracy", title="Table 3.4: more steps", ylim=(0, 1.02))
        ax.legend(fontsize=6)

        ax = axes[0][2]
        blurred = results[(results["defence"] == "blur") & (results["jpeg"] == 0)]
        labels = [("clean", CLEAN), ("without GS", NO_GS), ("with GS", ENSEMBLE)]
        width = 0.2
        for offset, (column, thesis_table, name) in enumerate(
            (("rank1", "3.10", "rank-1"), ("wide", "3.3", f"rank-{config['wide_rank']}"))
        ):
            ours = [blurred[blurred["attack"] == a].groupby("run")[column].mean().mean() for _, a in labels]
            theirs = [np.mean(T.BLURRED[thesis_table][label]) / 100 for label, _ in labels]
            x = np.arange(len(labels)) + (2 * offset - 1.5) * width
            ax.bar(x, ours, width, label=f"this run, {name}", color=f"C{offset}")
            thesis_name = "rank-1" if column == "rank1" else "rank-50"
            ax.bar(x + width, theirs, width, label=f"thesis, {thesis_name}", color=f"C{offset}", alpha=0.4, hatch="//")
        ax.set_xticks(range(len(labels)), [label for label, _ in labels])
        ax.set(ylabel="accuracy, defender blurs", title="Tables 3.3, 3.10: defensive blur", ylim=(0, 1.02))
        ax.legend(fontsize=6)
        fig.tight_layout()
        return fig

    def image_panel(self, config, count: int = 6):
        """Figs. 3.1, 3.3 and 3.5: protected gallery images of the first run beside the clean ones (rows: clean, the
        ensemble's LowKey, without the smoothing term, LowKey small), each with its perceptual distance 1 − SSIM;
        the attacks are read from the store (crafted by ``run``)."""
        store = current_store()
        run = run_ids(config)[0]
        attacks = self.attacks(config, run, self.victim_keys(config, store)[run])
        test = build_task(self.task(config, run), config.get("root")).test
        rows = [("clean", None), ("LowKey", attacks[ENSEMBLE]), ("without GS", attacks[NO_GS])]
        rows.append(("LowKey small", attacks[SMALL]))
        fig, axes = new_figure(count, len(rows), width=1.3, height=1.5)
        for r, (label, spec) in enumerate(rows):
            arrays = load_artifact(attacks[ENSEMBLE], store) if spec is None else load_artifact(spec, store)
            clean = test.images[torch.as_tensor(arrays["index"])]
            picks = np.linspace(0, len(clean) - 1, count).astype(int)
            images = clean if spec is None else torch.as_tensor(arrays[f"step_{config['steps']}"])
            distance = perceptual_distance(to_unit(clean[picks]), to_unit(images[picks])).numpy()
            for c, i in enumerate(picks):
                ax = axes[r][c]
                ax.imshow(images[i, 0].numpy(), cmap="gray", vmin=0, vmax=255)
                ax.set_xticks([]), ax.set_yticks([])
                ax.set_title(f"1−SSIM {distance[c]:.3f}", fontsize=6)
                if c == 0:
                    ax.set_ylabel(label, fontsize=7)
        fig.tight_layout()
        return fig

    def timing(self, config) -> pd.DataFrame:
        """§3.6.3: the stored crafting time per protected image of each attack of the first run (seconds, this
        machine), beside the thesis's 32 s per image (LowKey) and 54 s (Fawkes) on one GPU."""
        store = current_store()
        run = run_ids(config)[0]
        rows = []
        for name, spec in self.attacks(config, run, self.victim_keys(config, store)[run]).items():
            record = artifact_store(store).get(artifact_key(spec)) or {}
            images = len(load_artifact(spec, store)["index"])
            rows.append({"attack": name, "seconds per image": record.get("seconds", np.nan) / max(images, 1)})
        return pd.DataFrame(rows).set_index("attack").round(4)

    # --- claims -------------------------------------------------------------------------------------------

    def _per_run(self, results, rank: str, **where) -> pd.DataFrame:
        """(runs × defenders) accuracy of the rows matching ``where`` (defence "none" and no JPEG unless given)."""
        where = {"defence": "none", "jpeg": 0, **where}
        part = results
        for key, value in where.items():
            part = part[part[key] == value]
        return part.pivot_table(index="run", columns="defender", values=rank)

    def claims(self, results, config) -> pd.DataFrame:
        """The chapter's claims, each with its rule (``reprolib.verdicts``, calibrated in
        ``papers.cherepanova.calibration`` with this chapter's shapes):

        - the ensemble transfers to every defender: per defender, clean − protected rank-k accuracy > 0, paired by
          run, ``verdicts.positive`` over defenders;
        - same-family (same-head) attacks transfer better: per defender group, ``transfer_gaps`` per run > 0,
          ``verdicts.positive`` over the groups;
        - smoothing keeps the protection under defensive blur: per defender, accuracy on the attack without the
          smoothing term − with it, both blurred, > 0, ``verdicts.positive``;
        - more steps, stronger protection: rank-1 accuracy (mean over defenders) against the step count,
          ``verdicts.monotone`` falling, clusters = runs;
        - JPEG barely changes it: per run, the mean over defenders of JPEG − PNG rank-k accuracy,
          ``verdicts.equivalent_to_zero`` with the band ±``JPEG_TOLERANCE``;
        - a stronger perceptual weight protects less and looks better: per defender, small − normal rank-k accuracy
          > 0, and normal − small perceptual distance > 0, ``verdicts.combine`` of sign tests;
        - Table 3.1 (commercial APIs) and the Fawkes baseline: not run, with why.
        """
        k = config["wide_rank"]
        empty = results.empty
        rows = []
        final = {"steps": config["steps"]}
        if empty:
            settings = {}
        else:
            clean = self._per_run(results, "wide", attack=CLEAN)
            protected = self._per_run(results, "wide", attack=ENSEMBLE, **final)
            settings = {d: (clean[d] - protected[d]).to_numpy() for d in clean.columns}
        rows.append(
            (
                "The ensemble attack transfers to every defender: it lowers every model's accuracy (Table 3.2)",
                "rank-50 on 8 models: clean 90.7–96.8% → ensemble 0.6–5.5%",
                V.positive(settings) if settings else V.not_run("no runs"),
            )
        )
        singles = {} if empty else self._singles(results, config)
        for what, key, paper in (
            ("backbone family", _family, "Table 3.2, cross − same-family black-box rank-50: IR defenders +16.7 "
             "points, RN +21.3"),
            ("head", _head, "Table 3.2, cross − same-head black-box rank-50: ArcFace defenders −10.7 points, "
             "CosFace +9.5 (the thesis's own table supports it for CosFace defenders only)"),
        ):  # fmt: skip
            gaps: dict[str, list[float]] = {}
            for table in singles.values():
                for group, gap in transfer_gaps(table, key).items():
                    gaps.setdefault(group, []).append(gap)
            rows.append(
                (
                    f"Attacks transfer better between models of the same {what} (§3.6.1)",
                    paper,
                    V.positive(gaps) if gaps else V.not_run(f"needs two models of each {what}"),
                )
            )
        if empty:
            blur = {}
        else:
            without = self._per_run(results, "wide", attack=NO_GS, defence="blur", **final)
            with_gs = self._per_run(results, "wide", attack=ENSEMBLE, defence="blur", **final)
            blur = {d: (without[d] - with_gs[d]).to_numpy() for d in with_gs.columns}
        rows.append(
            (
                "Attacks computed with Gaussian smoothing keep their protection against defenders that blur; attacks "
                "without it do not (Tables 3.3, 3.10)",
                "rank-50, blurred: without GS 64.6–78.6%, with GS 2.8–9.6%",
                V.positive(blur) if blur else V.not_run("no runs"),
            )
        )
        if empty:
            steps = V.not_run("no runs")
        else:
            part = results[(results["attack"] == ENSEMBLE) & (results["defence"] == "none") & (results["jpeg"] == 0)]
            curve = part.groupby(["run", "steps"])["rank1"].mean().reset_index()
            steps = V.monotone(curve["steps"], curve["rank1"], curve["run"], direction=-1)
        rows.append(
            (
                "More attack steps give stronger protection (Table 3.4)",
                "Amazon rank-1 63.0% (10 steps) → 34.0 → 20.5 → 14.5 → 11.0% (50 steps)",
                steps,
            )
        )
        if empty:
            jpeg = V.not_run("no runs")
        else:
            png = self._per_run(results, "wide", attack=ENSEMBLE, **final)
            compressed = self._per_run(results, "wide", attack=ENSEMBLE, jpeg=config["jpeg_quality"], **final)
            jpeg = V.equivalent_to_zero((compressed - png).mean(axis=1).to_numpy(), tolerance=JPEG_TOLERANCE)
        rows.append(
            (
                f"Saving protected images as JPEG (quality {config['jpeg_quality']}) barely changes the protection: "
                f"rank-{k} accuracy moves by less than {JPEG_TOLERANCE:.0%} (§3.6.4)",
                "Amazon rank-50 2.4% (PNG) → 3.8% (JPEG); Microsoft rank-1 0.1% → 0.2%",
                jpeg,
            )
        )
        if empty:
            small = {}
        else:
            normal = self._per_run(results, "wide", attack=ENSEMBLE, **final)
            weak = self._per_run(results, "wide", attack=SMALL, **final)
            small = {f"{d}: accuracy higher": ((weak[d] - normal[d]).to_numpy(), 1) for d in normal.columns}
            distance = self._per_run(results, "distance", attack=ENSEMBLE, **final).mean(axis=1)
            distance_small = self._per_run(results, "distance", attack=SMALL, **final).mean(axis=1)
            small["perceptual distance lower"] = ((distance - distance_small).to_numpy(), 1)
        rows.append(
            (
                f"A stronger perceptual weight (LowKey small, α = {config['alpha_small']:g}) gives images closer to "
                f"the clean ones and weaker protection (§3.8.4, Tables 3.6–3.9)",
                "UMDFaces ensemble rank-50: 2.8–15.1% (α 0.05) → 12.2–27.0% (α 0.08); Amazon rank-50 2.4% → 17.2%",
                V.combine(V.sign, small) if small else V.not_run("no runs"),
            )
        )
        rows.append(
            (
                "LowKey defeats commercial face recognition APIs, Fawkes does not (Table 3.1)",
                "Amazon rank-50: clean 95.4%, Fawkes 94.9%, LowKey 2.4%; Microsoft rank-1: 90.5%, 74.2%, 0.1%",
                V.not_run(
                    "Amazon Rekognition and Microsoft Azure Face are paid online services that this offline book "
                    "cannot call (Azure's face identification has been limited-access since 2022), and FaceScrub is "
                    "not among its loaders"
                ),
            )
        )
        rows.append(
            (
                "Fawkes gives little protection (Tables 3.1, 3.2, 3.5)",
                "rank-50 under Fawkes 96.5–96.7% (clean 90.7–96.8%)",
                V.not_run(
                    "the thesis runs the Fawkes authors' code with its pretrained feature extractors, which cannot be "
                    "downloaded here; a re-implementation would not be the baseline the thesis measured"
                ),
            )
        )
        return claims_table(rows)

    def _singles(self, results, config) -> dict[int, pd.DataFrame]:
        """Per run, the attacker × defender rank-k accuracies of the single-model attacks."""
        victims = self.victims(config)
        part = results[
            results["attack"].isin(victims)
            & (results["defence"] == "none")
            & (results["jpeg"] == 0)
            & (results["steps"] == config["steps"])
        ]
        return {
            int(run): sub.pivot_table(index="attack", columns="defender", values="wide")
            for run, sub in part.groupby("run")
        }

    def summary(self, results, config):
        """The numbers the narrative cites (%, mean over defenders and runs; "—" without results)."""
        results = results if not results.empty else pd.DataFrame(columns=EVAL_COLUMNS)

        def mean(rank="wide", **where):
            part = self._per_run(results, rank, **where)
            return f"{100 * part.to_numpy().mean():.1f}" if part.size else "—"

        def distance(attack):
            part = self._per_run(results, "distance", attack=attack, steps=config["steps"])
            return f"{part.to_numpy().mean():.3f}" if part.size else "—"

        final = {"steps": config["steps"]}
        victims = self.victims(config)
        singles = self._singles(results, config)
        white = [t.loc[d, d] for t in singles.values() for d in victims if d in t.index and d in t.columns]
        black = [t.loc[a, d] for t in singles.values() for a in t.index for d in t.columns if a != d]
        counts = sorted(config["step_counts"])
        return {
            "wide_rank": str(config["wide_rank"]),
            "clean_wide": mean(attack=CLEAN),
            "clean_rank1": mean("rank1", attack=CLEAN),
            "ensemble_wide": mean(attack=ENSEMBLE, **final),
            "ensemble_rank1": mean("rank1", attack=ENSEMBLE, **final),
            "white_box_wide": f"{100 * np.mean(white):.1f}" if white else "—",
            "black_box_wide": f"{100 * np.mean(black):.1f}" if black else "—",
            "clean_blur_wide": mean(attack=CLEAN, defence="blur"),
            "no_gs_blur_wide": mean(attack=NO_GS, defence="blur", **final),
            "gs_blur_wide": mean(attack=ENSEMBLE, defence="blur", **final),
            "no_gs_wide": mean(attack=NO_GS, **final),
            "first_steps": str(counts[0]),
            "first_steps_rank1": mean("rank1", attack=ENSEMBLE, steps=counts[0]),
            "jpeg_wide": mean(attack=ENSEMBLE, jpeg=config["jpeg_quality"], **final),
            "small_wide": mean(attack=SMALL, **final),
            "distance": distance(ENSEMBLE),
            "distance_small": distance(SMALL),
            "distance_no_gs": distance(NO_GS),
        }


def _change(clean: torch.Tensor, images: torch.Tensor) -> dict:
    """Mean perceptual distance 1 − SSIM and largest pixel change (on the [0, 1] scale) of protected images."""
    if images is clean:
        return {"distance": 0.0, "linf": 0.0}
    x, y = to_unit(clean), to_unit(images)
    return {"distance": float(perceptual_distance(x, y).mean()), "linf": float((y - x).abs().max())}


def _pair(ours: float, theirs, position: str | None) -> str:
    """ "ours (thesis)" in %: the thesis's value of the counterpart defender, when there is one."""
    text = "—" if not np.isfinite(ours) else f"{ours:.1f}"
    if theirs is None or position is None:
        return text
    return f"{text} ({theirs[T.MODELS.index(position)]:.1f})"


CHAPTER = C3LowKey()
