"""Face identification (Cherepanova 2023, chapters 5 and 6): margin heads, identity compositions, open-set
evaluation, the CelebA identity reader, parameter errors and the chapters' claims on hand-made frames."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from reprolib import verdicts as V
from reprolib.chapters import get_chapter
from reprolib.papers.cherepanova import c5, c6
from reprolib.papers.cherepanova.faces import (
    Counts,
    FaceIdentityTask,
    allocate,
    class_angles,
    compose,
    error_ratio,
    group_counts,
    identification_metrics,
    per_group_rank,
)
from reprolib.papers.cherepanova.margins import MarginSoftmax, focal_loss, margin_logits, penalised
from reprolib.params import ParameterError
from reprolib.sources import SourceUnavailable
from reprolib.specs import SpecError
from reprolib.tasks import Split, Task

# --- margin heads ---------------------------------------------------------------------------------------------


def test_cosface_and_arcface_logits_by_hand():
    cosine = torch.tensor([[0.8, 0.6, -0.2]])  # the image's own class is 0
    labels = torch.tensor([0])
    cos = margin_logits(cosine, labels, torch.tensor([0.35]), 10.0, "cosface")
    assert cos.tolist()[0] == pytest.approx([10 * (0.8 - 0.35), 6.0, -2.0])
    arc = margin_logits(cosine, labels, torch.tensor([0.5]), 10.0, "arcface")
    theta = math.acos(0.8)
    assert arc.tolist()[0] == pytest.approx([10 * math.cos(theta + 0.5), 6.0, -2.0], rel=1e-5)
    # θ + m beyond π: the fallback cos θ − m·sin m keeps the logit falling with θ
    far = margin_logits(torch.tensor([[-0.99, 0.1]]), labels, torch.tensor([0.5]), 1.0, "arcface")
    assert far[0, 0].item() == pytest.approx(-0.99 - 0.5 * math.sin(0.5), rel=1e-5)


def test_per_image_margins_follow_the_group():
    cosine = torch.tensor([[[0.5, 0.1], [0.5, 0.1]]])  # two images of class 0, one per group
    margins = torch.tensor([[0.35, 0.75]])  # §6.9.2: 0.35 for males, 0.75 for females
    logits = margin_logits(cosine, torch.tensor([[0, 0]]), margins, 1.0, "cosface")
    assert logits[0, :, 0].tolist() == pytest.approx([0.15, -0.25])


def test_focal_loss_by_hand():
    logits = torch.tensor([[math.log(3.0), 0.0]])  # p_y = 3/4
    ce = -math.log(0.75)
    assert focal_loss(logits, torch.tensor([0]), 0.0).item() == pytest.approx(ce)
    assert focal_loss(logits, torch.tensor([0]), 2.0).item() == pytest.approx(0.25**2 * ce)


def test_interventions_on_hand_made_losses():
    losses = torch.tensor([[1.0, 3.0, 2.0, 6.0]])  # group means: 0 → 2, 1 → 4
    groups = torch.tensor([[0, 0, 1, 1]])
    alpha = torch.tensor([0.5])
    assert penalised(losses, groups, "none", alpha).item() == pytest.approx(3.0)
    assert penalised(losses, groups, "equal_loss", alpha).item() == pytest.approx(3.0 + 0.5 * 2)  # eq. 6.2
    assert penalised(losses, groups, "max_min", alpha).item() == pytest.approx(4.0)  # eq. 6.11
    one_group = torch.zeros_like(groups)
    assert penalised(losses, one_group, "equal_loss", alpha).item() == pytest.approx(3.0)  # no gap to penalise
    assert penalised(losses, one_group, "max_min", alpha).item() == pytest.approx(3.0)


def test_margin_method_rejects_bad_values_in_one_line():
    with pytest.raises(SpecError, match=r"^margin must be a number in \[0, "):
        MarginSoftmax(margin=-0.1)
    with pytest.raises(SpecError, match="^intervention must be one of none, equal_loss, .* got 'fair'$"):
        MarginSoftmax(intervention="fair")
    with pytest.raises(SpecError, match="^head must be one of cosface, arcface"):
        MarginSoftmax(head="sphereface")


# --- compositions (Table 5.1) ---------------------------------------------------------------------------------


def test_group_counts_match_table_5_2_and_5_3():
    counts = group_counts(3967, 70000, 0.1, 0.1)  # Table 5.2, 1:9
    assert counts == Counts((397, 3570), (7000, 63000))
    assert group_counts(3967, 70000, 0.5, 0.5).identities == (1984, 1983)  # 1983.5 rounds up as in the table
    assert group_counts(7934, 70000, 0.5, 0.2) == Counts((3967, 3967), (14000, 56000))  # Table 5.3, 2:8
    with pytest.raises(SpecError, match="male group: 5 images cannot be spread over 10 identities"):
        group_counts(20, 100, 0.5, 0.05)
    with pytest.raises(SpecError, match=r"male_image_share must be a number in \[0, 1\], got 1.5"):
        group_counts(20, 100, 0.5, 1.5)


def test_allocate_is_exact_and_even_within_capacities():
    assert allocate(10, [4, 4, 4]).tolist() == [3, 3, 4]
    assert allocate(10, [1, 8, 8]).tolist() == [1, 4, 5]
    assert allocate(12, [4, 4, 4]).tolist() == [4, 4, 4]
    with pytest.raises(SpecError, match="13 images are asked of identities that hold only 12"):
        allocate(13, [4, 4, 4])


def test_compose_draws_exact_counts():
    identity = np.repeat(np.arange(8), 5)  # 8 identities of 5 images; identities 0-3 group 0, 4-7 group 1
    group = (identity >= 4).astype(int)
    index = compose(identity, group, Counts((1, 3), (4, 9)), np.random.default_rng(0))
    picked = identity[index]
    assert len(np.unique(picked[group[index] == 0])) == 1 and (group[index] == 0).sum() == 4
    assert len(np.unique(picked[group[index] == 1])) == 3 and (group[index] == 1).sum() == 9
    assert np.unique(picked[group[index] == 1], return_counts=True)[1].tolist() == [3, 3, 3]  # 9 over 3, evenly


def test_identity_task_compositions_are_exact():
    small = {"identities_per_group": 10, "test_identities_per_group": 6, "images_per_identity": 8}
    ids = FaceIdentityTask(**small, train_identities=10, train_images=40, train_male_identity_share=0.3,
                           train_male_image_share=0.3).build(None)  # fmt: skip
    assert ids.info["counts"]["train"] == {"identities": [3, 7], "images": [12, 28]}
    assert ids.info["counts"]["test"] == {"identities": [6, 6], "images": [48, 48]}
    imgs = FaceIdentityTask(**small, train_identities=20, train_images=80, train_male_image_share=0.75).build(None)
    assert imgs.info["counts"]["train"] == {"identities": [10, 10], "images": [60, 20]}
    assert set(imgs.train.source_labels.tolist()).isdisjoint(imgs.test.source_labels.tolist())
    assert imgs.info["num_classes"] == 20 and sorted(set(imgs.train.labels.tolist())) == list(range(20))
    gallery = FaceIdentityTask(**small, test_identities=6, test_images=30, test_male_identity_share=0.5,
                               test_male_image_share=0.8).build(None)  # fmt: skip
    assert gallery.info["counts"]["test"] == {"identities": [3, 3], "images": [24, 6]}


def test_validation_holds_out_images_of_identities_with_enough():
    task = FaceIdentityTask(identities_per_group=5, test_identities_per_group=3, images_per_identity=7,
                            validation_images=3).build(None)  # fmt: skip
    assert len(task.validation) == 10 * 3 and len(task.train) == 10 * 4  # 7 > 6: every identity gives 3
    assert set(task.validation.labels.tolist()) == set(task.train.labels.tolist())
    task = FaceIdentityTask(identities_per_group=5, test_identities_per_group=3, images_per_identity=6,
                            validation_images=3).build(None)  # fmt: skip
    assert len(task.validation) == 0  # 6 is not more than 6


def test_identity_task_is_seeded_and_the_harder_group_is_tighter():
    spec = FaceIdentityTask(identities_per_group=10, test_identities_per_group=4, train_images=80,
                            train_identities=20, seed=3)  # fmt: skip
    a, b = spec.build(None), spec.build(None)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.train.labels, b.train.labels)
    assert not torch.equal(a.train.images, spec.replace(seed=4).build(None).train.images)  # other images drawn
    task = FaceIdentityTask(noise=0.0, pose=0.0, contrast=0.0).build(None)  # faces only, no nuisance
    spread = [task.train.images[task.train.groups == g].float().flatten(1).std(0).mean() for g in (0, 1)]
    assert spread[1] < spread[0]  # group 1's identities (female_spread 0.5) lie closer together


# --- evaluation -----------------------------------------------------------------------------------------------

# The five 2-D embeddings of tests/test_metrics.py: image 3 is the only one of identity 2.
EMBEDDINGS = [[1.0, 0.0], [3.0, 1.0], [0.0, 1.0], [1.0, 3.0], [1.0, 1.0]]
IDENTITIES = [0, 0, 1, 2, 1]


def test_per_group_rank_by_hand():
    groups = [0, 0, 1, 1, 1]
    # group 0: images 0 → 1 and 1 → 0, both hits; group 1: image 2's nearest is 3 (miss), 4's is 1 (miss)
    assert per_group_rank(EMBEDDINGS, IDENTITIES, groups, 1) == {"male": 1.0, "female": 0.0, "all": 0.5}
    assert per_group_rank(EMBEDDINGS, IDENTITIES, groups, 2)["female"] == 0.5  # 2 finds 4 at rank 2
    with pytest.raises(ValueError, match="^k must be at least 1, got 0$"):
        per_group_rank(EMBEDDINGS, IDENTITIES, groups, 0)


def test_error_ratio_and_angles_by_hand():
    assert error_ratio(0.9, 0.8) == pytest.approx(2.0)
    assert math.isnan(error_ratio(1.0, 0.8)) and math.isnan(error_ratio(float("nan"), 0.8))
    # identity 0: images at 0° and 90° (mean at 45°: intra 45°); identity 1: both at 180° (intra 0°)
    angles = class_angles([[1, 0], [0, 1], [-1, 0], [-2, 0]], [0, 0, 1, 1], [0, 0, 1, 1])
    assert angles["intra_male"] == pytest.approx(45.0) and angles["intra_female"] == pytest.approx(0.0)
    assert angles["inter_male"] == pytest.approx(135.0) and angles["inter_female"] == pytest.approx(135.0)


def test_identification_evaluator_on_a_hand_made_task():
    images = torch.zeros(5, 1, 2, 2, dtype=torch.uint8)
    split = Split(images, torch.tensor(IDENTITIES), torch.tensor([0, 0, 1, 1, 1]), torch.tensor(IDENTITIES))
    info = {"attributes": {"test": torch.tensor([0, 1, 0, 1, 0])}, "attribute_levels": 2, "num_classes": 3}
    task = Task("hand", split, split, (0.0,), (1.0,), info, "identification")
    metrics = identification_metrics(task, "test", {"embedding": torch.tensor(EMBEDDINGS)})
    assert (metrics["male"], metrics["female"], metrics["gap"]) == (1.0, 0.0, 1.0)
    assert metrics["attribute_0"] == pytest.approx(1 / 3)  # probes 0 (hit), 2 (miss), 4 (miss: 1 before 3)
    assert math.isnan(metrics["error_ratio"])  # male error 0
    train = identification_metrics(task, "train", {"class_pred": torch.tensor([0, 1, 1, 2, 2])})
    assert train["class_male"] == 0.5 and train["class_female"] == pytest.approx(2 / 3)
    assert "male" not in train  # no rank-1 on the training images (§6.3.1)


# --- CelebA identities ----------------------------------------------------------------------------------------


def _write_celeba(root, rows):
    """identity_CelebA.txt, list_attr_celeba.txt (count, header, ±1 rows) and JPEGs, torchvision's layout."""
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    attributes = ["Male", "Young"]
    lines, identities = [str(len(rows)), " ".join(attributes)], []
    for i, (identity, male, young) in enumerate(rows):
        name = f"{i + 1:06d}.jpg"
        lines.append(f"{name} {1 if male else -1:2d} {1 if young else -1:2d}")
        identities.append(f"{name} {identity}")
        Image.fromarray(np.full((218, 178, 3), 20 * i, dtype=np.uint8)).save(folder / "img_align_celeba" / name)
    (folder / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (folder / "identity_CelebA.txt").write_text("\n".join(identities) + "\n")


def test_celeba_identities_from_tiny_files_in_the_real_format(tmp_path):
    # identities 10, 11 male (11 annotated male on 2 of 3 images), 12, 13 female; 13 young
    rows = [(10, 1, 0), (10, 1, 0), (11, 1, 0), (11, 1, 0), (11, 0, 0), (12, 0, 0), (12, 0, 0), (13, 0, 1), (13, 0, 1)]
    _write_celeba(tmp_path, rows)
    task = FaceIdentityTask(source="celeba", root=str(tmp_path), side=16, test_identities_per_group=1).build(None)
    assert task.train.images.shape[1:] == (3, 16, 16) and task.train.images.dtype == torch.uint8
    assert task.info["counts"]["train"]["identities"] == [1, 1] and task.info["counts"]["test"]["identities"] == [1, 1]
    every = torch.cat([task.train.source_labels, task.test.source_labels])
    groups = torch.cat([task.train.groups, task.test.groups])
    assert {int(i): int(g) for i, g in zip(every, groups, strict=True)} == {0: 0, 1: 0, 2: 1, 3: 1}
    assert len(task.train) + len(task.test) == 9


def test_celeba_identities_absent_name_the_folder_and_the_page(tmp_path):
    with pytest.raises(SourceUnavailable, match=r"^CelebA identities are not in .*celeba.*mmlab\.ie\.cuhk\.edu\.hk"):
        FaceIdentityTask(source="celeba", root=str(tmp_path)).build(None)


# --- chapters: parameters and claims --------------------------------------------------------------------------


def test_chapter_parameters_stop_before_training():
    train = get_chapter("C-5-TRAIN")
    with pytest.raises(ParameterError, match=r"^identity_shares must lie in \[0, 1\], got 1.2$"):
        train.configure("smoke", identity_shares=[0.5, 1.2])
    with pytest.raises(ParameterError, match=r"^image_shares must lie in \(0, 1\), got 0.0$"):
        train.configure("smoke", image_shares=[0.0, 0.5])
    with pytest.raises(ParameterError, match="^shares: female group: 0 images cannot be spread over 20 identities"):
        train.configure("smoke", image_shares=[0.999])  # 200 training images: 200 male, 0 over 20 female ids
    fr = get_chapter("C-6-FR")
    with pytest.raises(ParameterError, match=r"^margin must be a number in \[0, 1.5\], got -0.1$"):
        fr.configure("smoke", margin=-0.1)
    with pytest.raises(ParameterError, match="^interventions must be one of baseline, .* got 'fairness'$"):
        fr.configure("smoke", interventions=["baseline", "fairness"])
    with pytest.raises(ParameterError, match="^interventions must include baseline"):
        fr.configure("smoke", interventions=["max_min"])


def test_fair_point_by_hand():
    assert c5.fair_point([0.0, 0.2, 0.5], [-0.04, -0.02, 0.04]) == pytest.approx(0.3)
    assert c5.fair_point([0.0, 0.5], [0.01, 0.02]) != c5.fair_point([0.0, 0.5], [0.01, 0.02])  # NaN: no crossing


def _train_frame(slope_male, slope_female, runs=4, shares=(0.0, 0.25, 0.5, 0.75, 1.0), noise=0.002):
    rng = np.random.default_rng(0)
    rows = []
    for kind in ("identities", "images"):
        for share in shares if kind == "identities" else (0.25, 0.5, 0.75):
            for run in range(runs):
                male = 0.9 + slope_male * share + rng.normal(0, noise)
                female = 0.85 + slope_female * share + rng.normal(0, noise)
                rows.append({"kind": kind, "share": share, "head": "cosface", "sampling": "balanced", "run": run,
                             "male": male, "female": female, "gap": male - female})  # fmt: skip
    return pd.DataFrame(rows)


def test_c5_train_claims_on_hand_made_frames():
    chapter = get_chapter("C-5-TRAIN")
    config = chapter.configure("smoke", samplings=["balanced"], image_shares=[0.25, 0.5, 0.75])
    verdicts = chapter.claims(_train_frame(0.05, -0.08), config)["verdict"].tolist()
    assert verdicts[:2] == [V.REPRODUCED, V.REPRODUCED]  # male up, female down with the male share
    assert verdicts[4] == V.NOT_RUN  # needs both samplings
    reversed_ = chapter.claims(_train_frame(-0.05, 0.08), config)["verdict"].tolist()
    assert reversed_[:2] == [V.NOT_REPRODUCED, V.NOT_REPRODUCED]
    flat = chapter.claims(_train_frame(0.0, 0.0), config)
    assert V.REPRODUCED not in flat["verdict"].tolist()[:2]


def test_closes_seen_not_new_by_hand():
    seen = [0.04, 0.05, 0.06]  # the seen-identity gap narrows by 5 points, every run
    assert c6.closes_seen_not_new(seen, [0.0, 0.001, -0.001]).verdict == V.REPRODUCED
    # new identities narrower by 5 points too: the test part is resolved against the claim
    assert c6.closes_seen_not_new(seen, [0.049, 0.05, 0.051]).verdict == V.NOT_REPRODUCED
    assert c6.closes_seen_not_new([-0.01, 0.0, 0.01], [0.0, 0.001, -0.001]).verdict == V.PARTLY
