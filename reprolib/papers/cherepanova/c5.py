"""C-5 — Cherepanova (2023), thesis chapter 5: dataset imbalance and gender-presentation bias in face
identification (Tables 5.1–5.7, Figs. 5.2–5.5, 5.8–5.10).

Three chapters share one set of trained models:

- ``C-5-TRAIN`` (§5.4, Tables 5.2–5.3, Figs. 5.2, 5.8): models trained on sets imbalanced in identities (group
  0's share of identities p, same images per identity) or in images per identity (all identities, group 0's
  share of images q), with and without class-balanced sampling, tested on the balanced default test set;
- ``C-5-GALLERY`` (§5.5, §5.7.1, Tables 5.4–5.5, Figs. 5.3, 5.5, 5.9): models trained on the balanced default
  training set, tested on galleries drawn from the default test set with imbalanced identities or images
  (5 draws per share, as the thesis), and randomly initialised (untrained) feature extractors on the same
  galleries;
- ``C-5-MATCHED`` (§5.6, Tables 5.6–5.7, Figs. 5.4, 5.10): the models of ``C-5-TRAIN`` tested on galleries with
  the same imbalance as their training set.

Every model keeps its test embeddings (``RunSpec(keep_outputs=True)``), so a gallery is a subset of the stored
default test set's embeddings (``faces.compose``): no model is trained twice, and the gallery draws are cheap.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import torch

from ... import params as P
from ... import verdicts as V
from ...chapter import Chapter, run_ids
from ...figures import mean_band, new_figure
from ...models import create_model, parse_model
from ...specs import SpecError
from ...store import ResultsStore
from ...sweep import RunSpec
from .c5_thesis import TABLES
from .common import claims_table, no_runs, number
from .faces import GROUPS, FaceIdentityTask, compose, error_ratio, group_counts, per_group_rank
from .margins import HEADS, MarginSoftmax, face_recipe

__all__ = ["C5Base", "C5Train", "C5Gallery", "C5Matched", "CHAPTERS", "SAMPLINGS", "fair_point"]

SAMPLINGS = {"balanced": True, "plain": False}  # class-balanced sampling on / off (§5.3, §5.9.1)
KINDS = ("identities", "images")
EMPTY_COLUMNS = ["kind", "share", "head", "sampling", "run", "male", "female", "gap", "gallery", "train_share"]
EMPTY_COLUMNS += ["default_male", "default_female", "default_gap"]
GALLERY_SEED_OFFSET = 10_000  # gallery draws: seeded by (run, share, draw) + this, never by a training seed
THESIS_MODEL = {"cosface": "MFN CosFace", "arcface": "MFN ArcFace"}  # the thesis's rows beside this book's runs
FACE_MODELS = ("mlp", "resnet8", "resnet20", "mobilefacenet", "face_resnet50", "face_resnet152")

COMMON_PRESETS = {
    "smoke": {
        "source": "synthetic",
        "model": "mlp",
        "width": 64,
        "embedding_dim": 16,
        "heads": ["cosface"],
        "samplings": ["balanced"],
        "identity_shares": [0.0, 0.5, 1.0],
        "image_shares": [0.2, 0.5, 0.8],
        "identities_per_group": 20,
        "test_identities_per_group": 12,
        "images_per_identity": 10,
        "train_images": 200,
        "gallery_images": 120,
        "runs": 2,
        "epochs": 3,
        "lr": 0.02,
        "batch_size": 64,
        "side": 16,
        "gallery_draws": 2,
        "random_inits": 2,
    },
    "course": {
        "source": "synthetic",
        "model": "mlp",
        "width": 128,
        "embedding_dim": 32,
        "heads": ["cosface", "arcface"],
        "samplings": ["balanced", "plain"],
        "identity_shares": [0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0],
        "image_shares": [0.2, 0.35, 0.5, 0.65, 0.8],
        "identities_per_group": 60,
        "test_identities_per_group": 30,
        "images_per_identity": 16,
        "train_images": 960,
        "gallery_images": 480,
        "runs": 3,
        "epochs": 30,
        "lr": 0.02,
        "batch_size": 64,
        "side": 16,
        "gallery_draws": 5,
        "random_inits": 10,
    },
    "paper": {  # CelebA (Table 5.1), MobileFaceNet; the schedule of §6.9.2 (chapter 5 states none)
        "source": "celeba",
        "model": "mobilefacenet",
        "width": 64,
        "embedding_dim": 128,
        "heads": ["cosface", "arcface"],
        "samplings": ["balanced", "plain"],
        "identity_shares": [i / 10 for i in range(11)],
        "image_shares": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
        "identities_per_group": 3967,
        "test_identities_per_group": 406,
        "images_per_identity": 16,
        "train_images": 70000,
        "gallery_images": 7000,
        "runs": 3,  # the thesis trains one model per setting; the verdicts need replicates
        "epochs": 120,
        "lr": 0.1,
        "batch_size": 512,
        "side": 112,
        "gallery_draws": 5,
        "random_inits": 10,
    },
}

COMMON_PARAMETERS = {
    "source": P.choice("synthetic", "celeba"),
    "model": P.model(allowed=FACE_MODELS),
    "width": P.integer(4, 1024),
    "embedding_dim": P.integer(2, 1024),
    "heads": P.choices(*HEADS),
    "samplings": P.choices(*SAMPLINGS),
    "identity_shares": P.numbers(0, 1, unique=True),
    "image_shares": P.numbers(0, 1, open_low=True, open_high=True, unique=True),
    "identities_per_group": P.integer(2),
    "test_identities_per_group": P.integer(2),
    "images_per_identity": P.integer(2),
    "train_images": P.integer(2),
    "gallery_images": P.integer(2),
    "runs": P.integer(1, 100),
    "epochs": P.integer(1),
    "lr": P.number(0, 10, open_low=True),
    "batch_size": P.integer(1, 4096),
    "side": P.choice(16, 32, 64, 112),
    "gallery_draws": P.integer(1, 100),
    "random_inits": P.integer(1, 100),
    "margin": P.number(0, 1.5),
    "scale": P.number(0, 128, open_low=True),
    "female_spread": P.number(0, 2, open_low=True),
    "rank": P.integer(1),
    "root": P.folder,
}


def fair_point(shares, gaps) -> float:
    """The share at which the male − female gap first crosses 0, by linear interpolation between the settings
    that bracket it (the thesis's "fair point", §5.4.2, §5.5.2); NaN when the gap keeps one sign."""
    x, y = np.asarray(shares, dtype=float), np.asarray(gaps, dtype=float)
    for i in range(len(x) - 1):
        if y[i] == 0:
            return float(x[i])
        if y[i] * y[i + 1] < 0:
            return float(x[i] + (x[i + 1] - x[i]) * y[i] / (y[i] - y[i + 1]))
    return float(x[-1]) if len(y) and y[-1] == 0 else float("nan")


def _label(kind: str) -> str:
    return "identities" if kind == "identities" else "images"


def training_task(config, kind: str = "default", share: float = 0.5, seed: int = 0) -> FaceIdentityTask:
    """The training set of one setting (Table 5.1): ``default`` (every training identity and image),
    ``identities`` (half the identities and images, group 0's share of both ``share``) or ``images`` (every
    identity, half the images, group 0's share of images ``share``); the test set is the default one."""
    data = {
        "source": config["source"],
        "root": config.get("root"),
        "side": config["side"],
        "identities_per_group": config["identities_per_group"],
        "test_identities_per_group": config["test_identities_per_group"],
        "images_per_identity": config["images_per_identity"],
        "seed": seed,
    }
    for name in ("female_spread", "rank"):
        if config.get(name) is not None:
            data[name] = config[name]
    if kind == "identities":
        data.update(train_identities=config["identities_per_group"], train_images=config["train_images"])
        data.update(train_male_identity_share=share, train_male_image_share=share)
    elif kind == "images":
        data.update(train_identities=2 * config["identities_per_group"], train_images=config["train_images"])
        data.update(train_male_image_share=share)
    return FaceIdentityTask(**data)


class C5Base(Chapter):
    """What the three chapter-5 pages share: parameters, the models, the run specs, gallery draws."""

    presets = COMMON_PRESETS
    parameters = COMMON_PARAMETERS

    def check(self, config):
        """Every composition of the configuration must exist before anything trains (``faces.group_counts``)."""
        try:
            for share in config["identity_shares"]:
                group_counts(config["identities_per_group"], config["train_images"], share, share)
                group_counts(config["test_identities_per_group"], config["gallery_images"], share, share)
            for share in config["image_shares"]:
                group_counts(2 * config["identities_per_group"], config["train_images"], 0.5, share)
                group_counts(2 * config["test_identities_per_group"], config["gallery_images"], 0.5, share)
        except SpecError as error:
            raise P.ParameterError(f"shares: {error}") from None
        if config["source"] == "synthetic":
            if config["train_images"] > config["identities_per_group"] * config["images_per_identity"]:
                raise P.ParameterError(
                    "train_images must be at most identities_per_group · images_per_identity "
                    f"({config['identities_per_group'] * config['images_per_identity']}), got {config['train_images']}"
                )

    def claims(self, results, config) -> pd.DataFrame:
        """The chapter's claims judged on ``results`` (``judge``); with no stored run (e.g. ``paper`` without
        CelebA on disk) every claim is ``not run at this scale`` with the command that would run it."""
        if not results.empty:
            return self.judge(results, config)
        claims = self.judge(pd.DataFrame(columns=EMPTY_COLUMNS), config)
        return claims.assign(verdict=V.NOT_RUN, measured=no_runs(self, config))

    # --- specs --------------------------------------------------------------------------------------------

    def task(self, config, kind: str = "default", share: float = 0.5, seed: int = 0) -> FaceIdentityTask:
        return training_task(config, kind, share, seed)

    def model_spec(self, config):
        spec = parse_model(config["model"])
        if config["model"] == "mlp":
            return spec.replace(hidden=config["width"], depth=2)
        return spec.replace(width=config["width"])

    def method(self, config, head: str, sampling: str) -> MarginSoftmax:
        extra = {k: config[k] for k in ("margin", "scale") if config.get(k) is not None}
        return MarginSoftmax(
            head=head, embedding_dim=config["embedding_dim"], class_balanced=SAMPLINGS[sampling], **extra
        )

    def run_spec(self, config, kind, share, head, sampling, run) -> RunSpec:
        tags = {"kind": kind, "share": share, "head": head, "sampling": sampling, "run": run}
        return RunSpec(
            self.task(config, kind, share, seed=run),
            self.model_spec(config),
            face_recipe(config),  # thesis §6.9.2, chapter 6's face models: chapter 5 states none
            seed=run,
            method=self.method(config, head, sampling),
            keep_outputs=True,
            tags=tags,
        )

    def train_specs(self, config) -> list[RunSpec]:
        """The models trained on imbalanced training sets (§5.4), shared by C-5-TRAIN and C-5-MATCHED."""
        shares = {"identities": config["identity_shares"], "images": config["image_shares"]}
        return [
            self.run_spec(config, kind, share, head, sampling, run)
            for kind in KINDS
            for share in shares[kind]
            for head in config["heads"]
            for sampling in config["samplings"]
            for run in run_ids(config)
        ]

    def default_specs(self, config) -> list[RunSpec]:
        """The models trained on the balanced default training set (§5.5)."""
        return [
            self.run_spec(config, "default", 0.5, head, sampling, run)
            for head in config["heads"]
            for sampling in config["samplings"]
            for run in run_ids(config)
        ]

    # --- galleries ----------------------------------------------------------------------------------------

    def gallery_counts(self, config, kind: str, share: float):
        """A gallery of Table 5.1 drawn from the default test set: ``identities`` (half the test identities and
        images, group 0's share of both ``share``) or ``images`` (every test identity, half the images)."""
        if kind == "identities":
            return group_counts(config["test_identities_per_group"], config["gallery_images"], share, share)
        return group_counts(2 * config["test_identities_per_group"], config["gallery_images"], 0.5, share)

    def gallery_rows(self, config, embeddings, identities, groups, kind, shares, draw_seed) -> list[dict]:
        """Rank-k accuracy (k: ``rank``, default 1) per group on ``gallery_draws`` galleries per share, drawn from
        one model's test embeddings; one row per (share, draw)."""
        rows = []
        for share in shares:
            counts = self.gallery_counts(config, kind, share)
            for draw in range(config["gallery_draws"]):
                rng = np.random.default_rng([GALLERY_SEED_OFFSET, draw_seed, round(share * 1000), draw])
                index = compose(identities, groups, counts, rng)
                acc = per_group_rank(embeddings[index], identities[index], groups[index], config.get("rank") or 1)
                rows.append(
                    {"gallery": kind, "share": share, "draw": draw, "male": acc["male"], "female": acc["female"]}
                )
        return rows

    def gallery_frame(self, config, results: pd.DataFrame, store: ResultsStore, matched: bool) -> pd.DataFrame:
        """Per stored run and gallery: the galleries' accuracies averaged over draws. ``matched``: each run of the
        training-imbalance sweep on galleries of its own kind and share (§5.6); otherwise each default run on
        every gallery of ``identity_shares`` and ``image_shares`` (§5.5)."""
        if results.empty:
            return pd.DataFrame()
        rows = []
        for _, run in results.iterrows():
            outputs = store.get_outputs(run["key"])
            test = _test_split(config)
            embeddings = outputs["test/embedding"].astype(np.float64)
            galleries = (
                [(run["kind"], [run["share"]])]
                if matched
                else [("identities", config["identity_shares"]), ("images", config["image_shares"])]
            )
            for kind, shares in galleries:
                seed = int(run["run"])
                for row in self.gallery_rows(config, embeddings, test["identity"], test["group"], kind, shares, seed):
                    rows.append(
                        {**{k: run[k] for k in ("head", "sampling", "run", "kind")}, "train_share": run["share"], **row}
                    )
        frame = pd.DataFrame(rows)
        keys = ["head", "sampling", "run", "kind", "train_share", "gallery", "share"]
        frame = frame.groupby(keys, as_index=False)[["male", "female"]].mean()
        frame["gap"] = frame["male"] - frame["female"]
        return frame

    def random_frame(self, config) -> pd.DataFrame:
        """§5.7.1, Fig. 5.5: ``random_inits`` untrained feature extractors (initialised with seeds 0, 1, …) on the
        galleries of ``image_shares``, rank-1 accuracy per group averaged over the gallery draws."""
        task = self.task(config).build(config.get("root"))
        seeds = list(range(config["random_inits"]))
        model = create_model(self.model_spec(config), seeds, task.image_shape, config["embedding_dim"]).eval()
        mean = torch.tensor(task.mean)[None, :, None, None]
        std = torch.tensor(task.std)[None, :, None, None]
        x = (task.test.images.float() / 255 - mean) / std
        with torch.no_grad():
            embeddings = torch.cat(
                [model(x[None, i : i + 512].expand(len(seeds), -1, -1, -1, -1)) for i in range(0, len(x), 512)], 1
            )
        identity, group = task.test.source_labels.numpy(), task.test.groups.numpy()
        rows = []
        for k in seeds:
            for row in self.gallery_rows(
                config, embeddings[k].double().numpy(), identity, group, "images", config["image_shares"], k
            ):
                rows.append({"init": k, **row})
        frame = pd.DataFrame(rows).groupby(["init", "share"], as_index=False)[["male", "female"]].mean()
        frame["gap"] = frame["male"] - frame["female"]
        return frame

    # --- shared tables and figures ------------------------------------------------------------------------

    def thesis_value(self, table: str, head: str, share: float, group: int):
        model = THESIS_MODEL[head]
        value = TABLES[table][model].get(round(share, 1))
        return None if value is None else value[group]

    def accuracy_table(self, frame: pd.DataFrame, config, kind_column: str, kind: str, table: str, shares):
        """One of Tables 5.2–5.7: per head and share, the thesis's male and female accuracy and error ratio
        (MobileFaceNet with the same head) beside this run's (mean over runs; ``—`` where the thesis has no row)."""
        rows = []
        for head in config["heads"]:
            for share in shares:
                part = frame[(frame[kind_column] == kind) & (frame["share"] == share) & (frame["head"] == head)]
                if "sampling" in part:
                    part = part[part["sampling"] == config["samplings"][0]]
                m_t, f_t = (self.thesis_value(table, head, share, g) for g in (0, 1))
                m, f = part["male"].mean(), part["female"].mean()
                rows.append(
                    {
                        "head": head,
                        "male share": f"{share:g}",
                        "M acc (thesis)": number(m_t),
                        "F acc (thesis)": number(f_t),
                        "error ratio (thesis)": number(error_ratio(m_t or np.nan, f_t or np.nan), 2),
                        "M acc (this run)": number(m),
                        "F acc (this run)": number(f),
                        "error ratio (this run)": number(error_ratio(m, f), 2),
                    }
                )
        return pd.DataFrame(rows)

    def accuracy_figure(self, frame: pd.DataFrame, config, kind_column: str, title: str, sampling_column=True):
        """The layout of Figs. 5.2–5.4: one column per head; top, male (blue) and female (red) accuracy against
        the male share (solid: identities, dashed: images); bottom, female accuracy against the *female* share.
        Mean over runs with a 95% band."""
        heads = config["heads"]
        fig, axes = new_figure(len(heads), 2)
        samplings = config["samplings"][:1] if sampling_column else [None]
        for c, head in enumerate(heads):
            for kind, style in zip(KINDS, ("-", "--"), strict=True):
                part = frame[(frame["head"] == head) & (frame[kind_column] == kind)]
                if sampling_column:
                    part = part[part["sampling"].isin(samplings)]
                if part.empty:
                    continue
                for g, colour in ((0, "C0"), (1, "C3")):
                    name = GROUPS[g]
                    data = part.dropna(subset=[name])
                    for row, flip in ((0, False), (1, g == 1)):
                        shown = data.assign(x=1 - data["share"]) if flip else data.assign(x=data["share"])
                        mean_band(axes[row][c], shown, "x", name, label=f"{name}, {_label(kind)}", color=colour)
                        axes[row][c].lines[-1].set_linestyle(style)
            ylabel = f"rank-{config.get('rank') or 1} accuracy"
            axes[0][c].set(title=f"{head} — {title}", xlabel="share of male data", ylabel=ylabel)
            axes[1][c].set(xlabel="share of the group's own data", ylabel=ylabel)
        axes[0][0].legend(fontsize="x-small")
        fig.tight_layout()
        return fig


@functools.lru_cache(maxsize=4)
def _test_split_cached(key: tuple) -> dict:
    config = dict(key)
    task = training_task(config).build(config.get("root"))
    return {"identity": task.test.source_labels.numpy(), "group": task.test.groups.numpy()}


def _test_split(config) -> dict:
    """The default test set's identities and groups (the same for every training setting and seed)."""
    keys = (
        "source",
        "root",
        "side",
        "identities_per_group",
        "test_identities_per_group",
        "images_per_identity",
        "female_spread",
    )
    return _test_split_cached(tuple((k, config.get(k)) for k in keys))


def _by_run(frame: pd.DataFrame, column: str, **where) -> pd.DataFrame:
    """``column`` as a (runs × shares) table for the rows matching ``where``."""
    part = frame
    for key, value in where.items():
        part = part[part[key] == value]
    return part.pivot_table(index="run", columns="share", values=column)


def _curve(table: pd.DataFrame):
    """(x, y, cluster) long arrays of a (runs × shares) table (the rules' curve format): shares where no run has a
    value (a group absent from the gallery) are left out, then runs missing any remaining share."""
    table = table.dropna(axis=1, how="all").dropna()
    x = np.tile(table.columns.to_numpy(dtype=float), len(table))
    return x, table.to_numpy().ravel(), np.repeat(table.index.to_numpy(), table.shape[1])


class C5Train(C5Base):
    id = "C-5-TRAIN"
    claim_rules = ("trend", "sign")
    title = "Tables 5.2–5.3: imbalance in the training set"
    notebook = "cherepanova_c5_train.md"

    def specs(self, config):
        return self.train_specs(config)

    def results(self, config, store=None, specs=None):
        frame = super().results(config, store, specs)
        if frame.empty:
            return pd.DataFrame(columns=EMPTY_COLUMNS)
        return frame.assign(male=frame["metrics.male"], female=frame["metrics.female"], gap=frame["metrics.gap"])

    def table(self, results, config, kind: str) -> pd.DataFrame:
        table, shares = ("5.2", config["identity_shares"]) if kind == "identities" else ("5.3", config["image_shares"])
        return self.accuracy_table(results, config, "kind", kind, table, shares)

    def figure(self, results, config):
        return self.accuracy_figure(results, config, "kind", "training set")

    def sampling_figure(self, results, config):
        """Fig. 5.8: the same curves without class-balanced sampling."""
        if "plain" not in config["samplings"]:
            return None
        return self.accuracy_figure(
            results[results["sampling"] == "plain"], config, "kind", "no class-balanced sampling"
        )

    def judge(self, results, config) -> pd.DataFrame:
        heads, first = config["heads"], config["samplings"][0]

        def curves(kind, sampling=first):
            return {head: _by_run(results, "male", kind=kind, head=head, sampling=sampling) for head in heads}

        rows = []
        for kind, table, paper in (
            (
                "identities",
                "5.2",
                "MFN CosFace: male 0.918 → 0.968, female 0.938 → 0.887 as the male share of identities goes 0 → 1",
            ),
            (
                "images",
                "5.3",
                "MFN CosFace: male 0.932 → 0.957, female 0.927 → 0.892 as the male share of images goes 0.2 → 0.8",
            ),
        ):
            settings = {}
            for head in heads:
                for g, direction in ((0, 1), (1, -1)):
                    t = _by_run(results, GROUPS[g], kind=kind, head=head, sampling=first)
                    settings[f"{head}, {GROUPS[g]}"] = (*_curve(t), direction)
            verdict = V.combine(V.trend, settings) if settings else V.not_run("no runs")
            rows.append(
                (
                    f"More male {kind} in training raise male accuracy and lower female accuracy (Table {table})",
                    paper,
                    verdict,
                )
            )

        fair = {}
        for head in heads:
            gaps = _by_run(results, "gap", kind="images", head=head, sampling=first)
            low = min(config["image_shares"])
            if 0.5 in gaps and low < 0.5:
                fair[f"{head}: gap at 0.5"] = (gaps[0.5].to_numpy(), 1)
                fair[f"{head}: gap at {low:g}"] = (gaps[low].to_numpy(), -1)
        rows.append(
            (
                "The fair point of image balance lies below 50% male images: males are better served at balance, "
                "females when male images are scarce (§5.4.2)",
                "fair point ≈ 20% male images",
                V.combine(V.sign, fair) if fair else V.not_run("needs image shares 0.5 and one below"),
            )
        )
        common = [s for s in config["image_shares"] if s in config["identity_shares"]]
        steeper = {}
        for head in heads:
            ids = _by_run(results, "gap", kind="identities", head=head, sampling=first)
            imgs = _by_run(results, "gap", kind="images", head=head, sampling=first)
            if len(common) >= 2 and not ids.empty and not imgs.empty:
                steeper[head] = (*_curve(imgs[common] - ids[common]), 1)
        rows.append(
            (
                "With class-balanced sampling, the gap grows faster with the male share of images than of identities "
                "(§5.4.2: 'more susceptible to image imbalance')",
                "MFN CosFace at 0.2 → 0.8: gap +0.005 → +0.036 (identities), +0.005 → +0.065 (images)",
                V.combine(V.trend, steeper) if steeper else V.not_run("needs two shares common to both sweeps"),
            )
        )
        robust = {}
        if set(SAMPLINGS) <= set(config["samplings"]):
            for head in heads:
                with_cbs = _by_run(results, "gap", kind="images", head=head, sampling="balanced")
                without = _by_run(results, "gap", kind="images", head=head, sampling="plain")
                if not with_cbs.empty and not without.empty:
                    robust[head] = (*_curve(with_cbs - without), 1)
        rows.append(
            (
                "Without class-balanced sampling the gap grows more slowly with the male share of images (§5.9.1)",
                "Fig. 5.8 vs Fig. 5.2 (no numbers)",
                V.combine(V.trend, robust) if robust else V.not_run("needs samplings balanced and plain"),
            )
        )
        return claims_table(rows)

    def summary(self, results, config):
        """Mean accuracies at the lowest, balanced and highest male share (``<kind>_<group>_low|half|high``), and
        the fair point of image imbalance."""
        first = config["samplings"][0]
        out = {}
        part = results[results["sampling"] == first] if not results.empty else results
        for kind, shares in (("identities", config["identity_shares"]), ("images", config["image_shares"])):
            for name, share in (("low", min(shares)), ("half", 0.5), ("high", max(shares))):
                rows = part[(part["kind"] == kind) & (part["share"] == share)] if len(part) else part
                for g in GROUPS:
                    out[f"{kind}_{g}_{name}"] = number(rows[g].mean() if len(rows) else np.nan)
        gaps = part[part["kind"] == "images"].groupby("share")["gap"].mean() if len(part) else pd.Series(dtype=float)
        point = fair_point(gaps.index, gaps.to_numpy()) if len(gaps) else float("nan")
        out["fair_point_images"] = "none in the range" if not np.isfinite(point) else f"{point:.2f}"
        return out


class C5Gallery(C5Base):
    id = "C-5-GALLERY"
    claim_rules = ("trend", "sign", "positive")
    title = "Tables 5.4–5.5, Fig. 5.5: imbalance in the gallery, and random feature extractors"
    notebook = "cherepanova_c5_gallery.md"

    def specs(self, config):
        return self.default_specs(config)

    def results(self, config, store=None, specs=None):
        """One row per (trained run, gallery kind, share), accuracies averaged over the gallery draws, then the
        random feature extractors (``kind`` "random", ``run`` the initialisation's seed)."""
        store = store or ResultsStore()
        runs = super().results(config, store, specs)
        frame = self.gallery_frame(config, runs, store, matched=False)
        if frame.empty:  # nothing trained (e.g. CelebA absent): no gallery and no extractor to draw
            return pd.DataFrame(columns=EMPTY_COLUMNS)
        random = self.random_frame(config).rename(columns={"init": "run"})
        random = random.assign(head="random", sampling="none", kind="random", train_share=0.5, gallery="images")
        return pd.concat([frame, random], ignore_index=True) if not frame.empty else pd.DataFrame(columns=EMPTY_COLUMNS)

    def table(self, results, config, kind: str) -> pd.DataFrame:
        table, shares = ("5.4", config["identity_shares"]) if kind == "identities" else ("5.5", config["image_shares"])
        return self.accuracy_table(results[results["kind"] == "default"], config, "gallery", kind, table, shares)

    def figure(self, results, config):
        return self.accuracy_figure(results[results["kind"] == "default"], config, "gallery", "gallery")

    def sampling_figure(self, results, config):
        """Fig. 5.9: the same curves for models trained without class-balanced sampling."""
        if "plain" not in config["samplings"] or results.empty:
            return None
        part = results[(results["kind"] == "default") & (results["sampling"] == "plain")]
        return self.accuracy_figure(part, config, "gallery", "no class-balanced sampling")

    def random_figure(self, results, config):
        """Fig. 5.5: male and female rank-1 accuracy of untrained feature extractors against the share of male
        images in the gallery (mean and 95% band over initialisations)."""
        fig, axes = new_figure(1)
        ax = axes[0][0]
        part = results[results["kind"] == "random"] if not results.empty else results
        for g, colour in ((0, "C0"), (1, "C1")):
            if len(part):
                mean_band(ax, part, "share", GROUPS[g], label=GROUPS[g], color=colour)
        ax.set(
            xlabel="share of male images in the gallery",
            ylabel=f"rank-{config.get('rank') or 1} accuracy",
            title="random feature extractors",
        )
        ax.legend(fontsize="small")
        fig.tight_layout()
        return fig

    def judge(self, results, config) -> pd.DataFrame:
        heads, first = config["heads"], config["samplings"][0]
        trained = (
            results[(results["kind"] == "default") & (results["sampling"] == first)] if not results.empty else results
        )
        rows = []
        for kind, table, directions, paper in (
            (
                "identities",
                "5.4",
                (-1, 1),
                "MFN CosFace: female 0.961 → 0.969 as male identities go 0.1 → 0.8; male 0.983 → 0.978",
            ),
            (
                "images",
                "5.5",
                (1, -1),
                "MFN CosFace: male 0.941 → 0.975, female 0.957 → 0.894 as male images go 0.2 → 0.8",
            ),
        ):
            settings = {}
            for head in heads:
                for g in (0, 1):
                    t = _by_run(trained, GROUPS[g], gallery=kind, head=head)
                    settings[f"{head}, {GROUPS[g]}"] = (*_curve(t), directions[g])
            claim = (
                f"More {kind} of a group in the gallery {'lower' if kind == 'identities' else 'raise'} that group's "
                f"accuracy (Table {table})"
            )
            rows.append((claim, paper, V.combine(V.trend, settings) if len(trained) else V.not_run("no runs")))

        common = [s for s in config["image_shares"] if s in config["identity_shares"]]
        more = {}
        for head in heads:
            for g, direction in ((0, 1), (1, -1)):
                ids = _by_run(trained, GROUPS[g], gallery="identities", head=head)
                imgs = _by_run(trained, GROUPS[g], gallery="images", head=head)
                if len(common) >= 2 and not ids.empty:
                    more[f"{head}, {GROUPS[g]}"] = (*_curve(imgs[common] + ids[common]), direction)
        rows.append(
            (
                "Image balance in the gallery moves a group's accuracy more than identity balance does (§5.5.2)",
                "MFN CosFace, male share 0.2 → 0.8: female −0.063 (images) vs +0.009 (identities)",
                V.combine(V.trend, more) if more else V.not_run("needs two shares common to both galleries"),
            )
        )
        fair, none = {}, {}
        low = min(config["image_shares"])
        for head in heads:
            gaps = _by_run(trained, "gap", gallery="images", head=head)
            if 0.5 in gaps and low < 0.5:
                fair[f"{head}: gap at 0.5"] = (gaps[0.5].to_numpy(), 1)
                fair[f"{head}: gap at {low:g}"] = (gaps[low].to_numpy(), -1)
            id_gaps = _by_run(trained, "gap", gallery="identities", head=head)
            for share in id_gaps.columns:
                if 0 < share < 1:
                    none[f"{head}, {share:g}"] = id_gaps[share].to_numpy()
        rows.append(
            (
                "The fair point of image balance in the gallery lies below 50% male images (§5.5.2)",
                "≈ 30% male images",
                V.combine(V.sign, fair) if fair else V.not_run("needs image shares 0.5 and one below"),
            )
        )
        rows.append(
            (
                "Identity balance in the gallery has no fair point: males stay ahead at every share (§5.5.2)",
                "MFN CosFace: gap +0.016 to +0.022 at every share",
                V.positive(none) if none else V.not_run("needs identity shares inside (0, 1)"),
            )
        )
        random = results[results["kind"] == "random"] if not results.empty else results
        gaps = random.pivot_table(index="run", columns="share", values="gap") if len(random) else pd.DataFrame()
        top = max(config["image_shares"])
        males = random.pivot_table(index="run", columns="share", values="male") if len(random) else pd.DataFrame()
        females = random.pivot_table(index="run", columns="share", values="female") if len(random) else pd.DataFrame()
        rows.append(
            (
                "Random feature extractors: males better served on a balanced gallery (§5.7.1)",
                "Fig. 5.5 (no numbers)",
                V.sign(gaps[0.5].to_numpy(), 1) if 0.5 in gaps else V.not_run("needs image share 0.5"),
            )
        )
        mirrored = round(1 - top, 6)
        rows.append(
            (
                f"Random feature extractors: male accuracy at {top:g} male images exceeds female accuracy at "
                f"{top:g} female images (§5.7.1)",
                "Fig. 5.5 (no numbers)",
                V.sign((males[top] - females[mirrored]).to_numpy(), 1)
                if top in males and mirrored in females and top > 0.5
                else V.not_run("needs mirrored image shares"),
            )
        )
        return claims_table(rows)

    def summary(self, results, config):
        first = config["samplings"][0]
        out = {}
        trained = (
            results[(results["kind"] == "default") & (results["sampling"] == first)] if not results.empty else results
        )
        for kind, shares in (("identities", config["identity_shares"]), ("images", config["image_shares"])):
            gaps = (
                trained[trained["gallery"] == kind].groupby("share")["gap"].mean()
                if len(trained)
                else pd.Series(dtype=float)
            )
            point = fair_point(gaps.index, gaps.to_numpy()) if len(gaps) else float("nan")
            out[f"fair_point_{kind}"] = "none in the range" if not np.isfinite(point) else f"{point:.2f}"
            for name, share in (("low", min(shares)), ("high", max(shares))):
                part = trained[(trained["gallery"] == kind) & (trained["share"] == share)] if len(trained) else trained
                for g in GROUPS:
                    out[f"{kind}_{g}_{name}"] = number(part[g].mean() if len(part) else np.nan)
        random = results[(results["kind"] == "random") & (results["share"] == 0.5)] if not results.empty else results
        for g in GROUPS:
            out[f"random_{g}"] = number(random[g].mean() if len(random) else np.nan)
        return out


class C5Matched(C5Base):
    id = "C-5-MATCHED"
    claim_rules = ("trend",)
    title = "Tables 5.6–5.7: the same imbalance in the training set and the gallery"
    notebook = "cherepanova_c5_matched.md"

    def specs(self, config):
        return self.train_specs(config)

    def results(self, config, store=None, specs=None):
        """One row per run of the training-imbalance sweep: its accuracies on galleries of its own composition
        (averaged over draws) and, as ``default_<group>``/``default_gap``, on the balanced default test set."""
        store = store or ResultsStore()
        runs = super().results(config, store, specs)
        frame = self.gallery_frame(config, runs, store, matched=True)
        if frame.empty:
            return pd.DataFrame(columns=EMPTY_COLUMNS)
        default = runs.set_index(["head", "sampling", "run", "kind", "share"])[["metrics.male", "metrics.female"]]
        default.columns = ["default_male", "default_female"]
        frame = frame.join(default, on=["head", "sampling", "run", "kind", "train_share"])
        return frame.assign(default_gap=frame["default_male"] - frame["default_female"])

    def table(self, results, config, kind: str) -> pd.DataFrame:
        table, shares = ("5.6", config["identity_shares"]) if kind == "identities" else ("5.7", config["image_shares"])
        return self.accuracy_table(results, config, "kind", kind, table, shares)

    def figure(self, results, config):
        return self.accuracy_figure(results, config, "kind", "training set and gallery")

    def sampling_figure(self, results, config):
        """Fig. 5.10: the same curves without class-balanced sampling."""
        if "plain" not in config["samplings"] or results.empty:
            return None
        return self.accuracy_figure(
            results[results["sampling"] == "plain"], config, "kind", "no class-balanced sampling"
        )

    def judge(self, results, config) -> pd.DataFrame:
        heads, first = config["heads"], config["samplings"][0]
        part = results[results["sampling"] == first] if not results.empty else results
        rows = []
        for kind, direction, verb, paper in (
            (
                "identities",
                -1,
                "cancel",
                "MFN CosFace gap, male share 0.1 → 0.9: +0.002 → +0.044 (train only), +0.020 → +0.020 (matched)",
            ),
            (
                "images",
                1,
                "amplify",
                "MFN CosFace gap, male share 0.2 → 0.8: +0.005 → +0.065 (train only), −0.102 → +0.214 (matched)",
            ),
        ):
            settings = {}
            for head in heads:
                matched = _by_run(part, "gap", kind=kind, head=head)
                alone = _by_run(part, "default_gap", kind=kind, head=head)
                if not matched.empty:
                    settings[head] = (*_curve(matched - alone), direction)
            rows.append(
                (
                    f"The same {kind} imbalance in training set and gallery: the effects {verb} — the gap moves "
                    f"{'less' if verb == 'cancel' else 'more'} with the male share than with a balanced gallery "
                    "(§5.6, §5.8)",
                    paper,
                    V.combine(V.trend, settings) if settings else V.not_run("no runs"),
                )
            )
        rise = {}
        for head in heads:
            for g in (0, 1):
                t = _by_run(part, GROUPS[g], kind="identities", head=head)
                rise[f"{head}, {GROUPS[g]}"] = (*_curve(t), 1)
        rows.append(
            (
                "More male identities in both training set and gallery raise both male and female accuracy (§5.6)",
                "MFN CosFace: male 0.963 → 0.971, female 0.943 → 0.951 (male share 0.1 → 0.9)",
                V.combine(V.trend, rise) if len(part) else V.not_run("no runs"),
            )
        )
        return claims_table(rows)

    def summary(self, results, config):
        """The gap on matched galleries and on the balanced one at the lowest and highest inner male share
        (``<kind>_gap_low|high``, ``<kind>_default_gap_low|high``), and those shares (``<kind>_low|high``)."""
        first = config["samplings"][0]
        out = {}
        part = results[results["sampling"] == first] if not results.empty else results
        for kind, shares in (("identities", config["identity_shares"]), ("images", config["image_shares"])):
            inner = [s for s in shares if 0 < s < 1] or [0.5]
            for name, share in (("low", min(inner)), ("high", max(inner))):
                rows = part[(part["kind"] == kind) & (part["share"] == share)] if len(part) else part
                out[f"{kind}_{name}"] = f"{share:g}"
                for column in ("gap", "default_gap"):
                    out[f"{kind}_{column}_{name}"] = number(rows[column].mean() if len(rows) else np.nan)
        return out


CHAPTERS = [C5Train(), C5Gallery(), C5Matched()]
