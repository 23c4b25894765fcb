"""Part V (Choi, Zhang & Liu): labels and bias, the stand-in's exact counts, embeddings as tasks, the evaluator,
the descriptive model and Langevin dynamics, the auxiliary loss, the choice of λ, the claims and bad parameters."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from reprolib.chapters import get_chapter
from reprolib.metrics import bias_score
from reprolib.papers.choi import common
from reprolib.papers.choi.descriptive import DescriptiveModel, energy, energy_net, langevin, load_energy_net
from reprolib.papers.choi.embeddings import bias_metrics, embedding_task, quantise, standardised
from reprolib.papers.choi.labels import OBJECTS, TABLE1, TABLE1_OVERALL, amplification, check_objects, man_bias
from reprolib.papers.choi.method import ChoiAuxiliary, expected_statistic, main_loss
from reprolib.papers.choi.standin import DEFAULT_SHARES, ChoiStandIn, object_counts
from reprolib.params import ParameterError
from reprolib.specs import SpecError

# --- labels and bias (§3.1) ----------------------------------------------------------------------------------


def test_man_bias_hand_computed_and_equal_to_bias_score():
    objects = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 0], [0, 1, 0]])
    man = np.array([1, 1, 0, 0])
    # object 0: 2 of 3 images are men; object 1: 1 of 2; object 2: in no image
    np.testing.assert_allclose(man_bias(objects, man), [2 / 3, 1 / 2, np.nan])
    np.testing.assert_allclose(man_bias(objects, man), bias_score(objects, man)[:, 1])


def test_man_bias_when_a_model_predicts_one_gender_only():
    # every image predicted "man": bias_score has one column, man_bias is 1 for every predicted object
    assert bias_score([[1], [1]], [1, 1]).shape == (1, 1)
    np.testing.assert_allclose(man_bias([[1, 0], [1, 0]], [1, 1]), [1.0, np.nan])


def test_amplification_hand_computed():
    b_star = [0.8, 0.5, 0.3, 0.9]  # the second at exactly 1/G counts for neither gender
    b_tilde = [0.9, 0.9, 0.2, np.nan]  # the fourth is never predicted: no term, K stays 4
    # towards men: 0.9 − 0.8; towards women: 0.8 − 0.7
    assert amplification(b_star, b_tilde) == pytest.approx((0.1 + 0.1) / 4)


def test_table1_overall_and_halves():
    assert len(OBJECTS) == 11
    assert sum(TABLE1[o] >= 0.7 for o in OBJECTS) == 5
    assert TABLE1_OVERALL == 0.687


def test_check_objects_names_the_unknown_one():
    with pytest.raises(ValueError, match="unknown object 'trukc'; accepted: truck, motorcycle"):
        check_objects(["truck", "trukc"])


# --- the stand-in ------------------------------------------------------------------------------------------------


def test_default_shares_give_table1_overall_and_teddy_bear():
    shares = np.array([DEFAULT_SHARES[o] for o in OBJECTS])
    assert shares.sum() == pytest.approx(1)
    assert DEFAULT_SHARES["teddy bear"] == 0.027
    assert shares @ np.array([TABLE1[o] for o in OBJECTS]) == pytest.approx(TABLE1_OVERALL)


def test_object_counts_are_largest_remainders():
    np.testing.assert_array_equal(object_counts([0.5, 0.3, 0.2], 7), [4, 2, 1])  # 3.5, 2.1, 1.4 → +1 to the first
    assert object_counts(list(DEFAULT_SHARES.values()), 9885).sum() == 9885


def test_standin_has_exact_counts_and_table1_biases():
    spec = ChoiStandIn(n_images=2000, dim=8)
    embeddings, objects, man = spec.arrays()
    counts = object_counts(list(DEFAULT_SHARES.values()), 2000)
    np.testing.assert_array_equal(objects.sum(0), counts)
    assert (objects.sum(1) == 1).all()
    np.testing.assert_array_equal((objects * man[:, None]).sum(0), np.round(spec.ratios * counts))
    np.testing.assert_allclose(man_bias(objects, man), spec.ratios, atol=0.5 / counts.min())
    assert embeddings.shape == (2000, 8)
    np.testing.assert_array_equal(ChoiStandIn(n_images=2000, dim=8).arrays()[0], embeddings)  # seeded


def test_standin_rejects_unknown_object():
    with pytest.raises(SpecError, match="objects: unknown object 'sofa'"):
        ChoiStandIn(objects=("truck", "sofa"))


# --- embeddings as a task, the evaluator ------------------------------------------------------------------------


def test_quantise_hand_computed():
    values = np.array([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    images = quantise(values, values.min(0), np.array([2.0, 5.0]))
    assert images.shape == (4, 2, 1, 1) and images.dtype == torch.uint8
    np.testing.assert_array_equal(images[:, 0, 0, 0], [0, 128, 255, 255])  # 127.5 rounds to 128; 3 is clipped
    np.testing.assert_array_equal(images[:, 1, 0, 0], [0, 0, 0, 0])  # a constant dimension


def _tiny_task(n=40, seed=0):
    rng = np.random.default_rng(seed)
    objects = np.eye(2, dtype=np.int64)[rng.integers(0, 2, n)]
    man = rng.integers(0, 2, n)
    return embedding_task("tiny", rng.standard_normal((n, 3)), objects, man, ("truck", "fork"), 0, 0.25, 0.2)


def test_embedding_task_splits_and_standardisation():
    task = _tiny_task()
    assert (len(task.train), len(task.validation), len(task.test)) == (24, 6, 10)  # 10 test, 20% of the 30 left
    assert task.info["num_labels"] == 3 and task.train.labels.shape == (24, 3)
    x = standardised(task, "train")
    np.testing.assert_allclose(x.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(0), 1, atol=1e-4)  # channel_stats's std is torch's unbiased std
    labels = task.train.labels.numpy()
    np.testing.assert_allclose(task.info["train_bias"], man_bias(labels[:, :2], labels[:, 2]))


def test_bias_metrics_hand_computed():
    task = _tiny_task()
    truth = task.test.labels.numpy()
    logits = torch.full(truth.shape, -1.0)
    logits[:, 0] = 1.0  # every test image predicted: truck, no fork, man
    logits[:, 2] = 1.0
    metrics = bias_metrics(task, "test", logits)
    predicted = np.zeros_like(truth)
    predicted[:, [0, 2]] = 1
    assert metrics["accuracy"] == pytest.approx((predicted == truth).mean())
    assert metrics["gender_accuracy"] == pytest.approx(truth[:, 2].mean())
    assert metrics["predicted_bias"] == [1.0, None]
    b_star = task.info["train_bias"]
    assert metrics["bias_amplification"] == pytest.approx(amplification(b_star, [1.0, np.nan]))
    assert metrics["man_shift"] == pytest.approx(1.0 - b_star[0])


# --- the descriptive model (§3.3) --------------------------------------------------------------------------------


def test_langevin_on_the_reference_gaussian_has_the_discretised_stationary_variance():
    net = energy_net(1, 4, (8,))
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()  # f_w ≡ 0: U = ‖x‖²/(2σ²), a Gaussian
    sigma, eps = 1.0, 0.5
    x = sigma * torch.randn(1, 20000, 4, generator=torch.Generator().manual_seed(0))
    out = langevin(net, x, sigma, eps, 200, 1.0, [torch.Generator().manual_seed(1)])
    a = 1 - eps**2 / (2 * sigma**2)  # x ← a x + ε Z has stationary variance ε² / (1 − a²)
    assert out.var().item() == pytest.approx(eps**2 / (1 - a**2), rel=0.03)


def test_energy_hand_computed():
    net = energy_net(1, 2, (3,))
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net[-1].bias.fill_(2.0)  # f_w ≡ 2
    x = torch.tensor([[[1.0, 2.0]]])
    assert energy(net, x, sigma=2.0).item() == pytest.approx(-2 + 5 / 8)


def test_descriptive_model_computes_seeded_arrays_and_reloads():
    spec = DescriptiveModel(
        task=ChoiStandIn(n_images=200, dim=4), hidden=(8,), langevin_steps=3, iterations=4, chains=16, n_samples=10
    )
    first, second = spec.compute(None), spec.compute(None)
    assert first["samples"].shape == (10, 4) and first["observed_energy"].shape == (4,)
    np.testing.assert_array_equal(first["samples"], second["samples"])
    net = load_energy_net([first, second], (8,))
    assert net[0].weight.shape == (2, 4, 8)
    np.testing.assert_array_equal(net[0].weight[1].numpy(), second["weight_0"][0])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("step_size", 0.0, "step_size must be a number in \\(0, 10\\]"), ("langevin_steps", 0, "langevin_steps")],
)
def test_descriptive_model_rejects_bad_langevin(field, value, message):
    with pytest.raises(SpecError, match=message):
        DescriptiveModel(**{field: value})


# --- the auxiliary loss (§3.2) ------------------------------------------------------------------------------------


def test_expected_statistic_hand_computed():
    logits = torch.log(torch.tensor([[[1.0, 3.0], [3.0, 1.0]]]))  # p = σ(log r) = r / (1 + r)
    # object p = 0.5, 0.75; man p = 0.75, 0.5 → products 0.375, 0.375
    bias = expected_statistic(logits, 1.0, "bias")
    assert bias.item() == pytest.approx(0.75 / 1.25)
    assert expected_statistic(logits, 1.0, "joint").item() == pytest.approx(0.375)


def test_main_loss_sums_labels_and_averages_images():
    logits = torch.zeros(1, 2, 3)
    labels = torch.ones(1, 2, 3, dtype=torch.long)
    assert main_loss(logits, labels).item() == pytest.approx(3 * np.log(2))


def test_auxiliary_rejects_negative_lambda():
    with pytest.raises(SpecError, match="lam must be a number in \\[0, 1000000.0\\], got -0.1"):
        ChoiAuxiliary(lam=-0.1)


# --- the chapters: choice of λ, claims, parameters ----------------------------------------------------------------


def _frame(base_amp, aux_amps, accuracies):
    rows = []
    for run, amp in enumerate(base_amp):
        rows.append(
            {
                "method": "baseline",
                "sampling": "none",
                "lam": 0.0,
                "run": run,
                "bias_amplification": amp,
                "val_bias_amplification": amp,
                "accuracy": 0.9,
                "val_accuracy": 0.9,
                "man_shift": amp,
            }
        )
    for lam, amps in aux_amps.items():
        for run, amp in enumerate(amps):
            rows.append(
                {
                    "method": "auxiliary",
                    "sampling": "offline",
                    "lam": lam,
                    "run": run,
                    "bias_amplification": amp,
                    "val_bias_amplification": amp,
                    "accuracy": accuracies[lam],
                    "val_accuracy": accuracies[lam],
                    "man_shift": amp,
                }
            )
    return pd.DataFrame(rows)


def test_select_lambda_lowest_validation_amplification_within_accuracy():
    amps = {0.3: [0.06, 0.06], 1.0: [0.04, 0.04], 3.0: [0.0, 0.0]}
    frame = _frame([0.1, 0.1], amps, {0.3: 0.9, 1.0: 0.895, 3.0: 0.8})
    assert common.select_lambda(frame, "offline") == 1.0  # 3.0 costs 10 points of accuracy
    assert common.select_lambda(frame, "online") is None


def test_f12_claims_on_hand_made_runs():
    chapter = get_chapter("Z-F12")
    config = chapter.configure("smoke")
    base = [0.16, 0.17, 0.15, 0.16, 0.18]
    frame = _frame(base, {1.0: [0.07, 0.08, 0.075, 0.07, 0.08]}, {1.0: 0.9})
    claims = chapter.claims(frame, config).set_index("claim")["verdict"]
    assert claims.tolist() == ["reproduced", "reproduced", "reproduced", "reproduced"]
    frame = _frame(base, {1.0: base}, {1.0: 0.8})  # no reduction; accuracy 10 points lower
    claims = chapter.claims(frame, config)["verdict"].tolist()
    assert claims[2] == "inconclusive" and claims[3] == "not reproduced"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lambdas": [-1.0]}, "lambdas must lie in \\[0, 1000000.0\\], got -1.0"),
        ({"step_size": 0.0}, "step_size must be a number in \\(0, 10\\], got 0.0"),
        ({"objects": ["truck", "trukc"]}, "objects must be one of truck, .* got 'trukc'"),
    ],
)
def test_bad_parameters_stop_with_one_line(params, message):
    with pytest.raises(ParameterError, match=message):
        get_chapter("Z-F12").configure("smoke", **params)


# --- COCO 2014 (reprolib.coco) and the paper's filter -----------------------------------------------------------


def _write_coco(root, n_images=6):
    """A tiny COCO 2014 train split in the real on-disk format: annotations/*.json and train2014/*.jpg."""
    from PIL import Image

    (root / "annotations").mkdir(parents=True)
    (root / "train2014").mkdir()
    images = [{"id": 10 + i, "file_name": f"COCO_train2014_{10 + i:012d}.jpg"} for i in range(n_images)]
    for k, image in enumerate(images):
        Image.new("RGB", (40, 30), (20 * k, 100, 200)).save(root / "train2014" / image["file_name"])
    categories = [{"id": 1, "name": "person"}, {"id": 8, "name": "truck"}, {"id": 48, "name": "fork"}]
    pairs = [(10, 1), (10, 8), (11, 1), (11, 48), (11, 8), (12, 8), (13, 1), (13, 48), (14, 1), (14, 8), (15, 1)]
    annotations = [{"id": j, "image_id": i, "category_id": c} for j, (i, c) in enumerate(pairs)]
    (root / "annotations" / "instances_train2014.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    texts = {
        10: ["A man driving a truck.", "Someone near a truck"],  # man
        11: ["A woman eats with a fork", "Two girls at a table"],  # woman
        12: ["A man next to a truck"],  # no person annotated: dropped
        13: ["A man and a woman at dinner"],  # both genders: dropped
        14: ["A lady's truck", "The woman waves"],  # woman
        15: ["A man"],  # none of the objects: dropped
    }
    captions = [
        {"id": j, "image_id": i, "caption": t} for j, (i, t) in enumerate((i, t) for i in texts for t in texts[i])
    ]
    (root / "annotations" / "captions_train2014.json").write_text(
        json.dumps({"images": images, "annotations": captions})
    )


def test_read_coco_objects_and_captions(tmp_path):
    from reprolib.coco import read_coco

    _write_coco(tmp_path)
    coco = read_coco(tmp_path, "train")
    assert coco.categories == ["person", "truck", "fork"]
    np.testing.assert_array_equal(coco.ids, [10, 11, 12, 13, 14, 15])
    np.testing.assert_array_equal(coco.objects[:2], [[1, 1, 0], [1, 1, 1]])
    assert coco.captions[1] == ["A woman eats with a fork", "Two girls at a table"]
    assert coco.image_path(0) == tmp_path / "train2014" / "COCO_train2014_000000000010.jpg"


@pytest.mark.parametrize(
    ("captions", "gender"),
    [(["A man rides"], 1), (["Two women"], 0), (["A man and a woman"], -1), (["A dog"], -1), (["the woman's"], 0)],
)
def test_caption_gender_by_zhao_rule(captions, gender):
    from reprolib.coco import caption_gender

    assert caption_gender(captions) == gender


def test_read_coco_missing_folder_is_one_line(tmp_path):
    from reprolib.coco import read_coco
    from reprolib.sources import SourceUnavailable

    with pytest.raises(SourceUnavailable, match=f"^COCO 2014 is not in {tmp_path}: .*cocodataset.org/#download\\)$"):
        read_coco(tmp_path)


def test_paper_filter_keeps_person_object_and_one_gender(tmp_path):
    from reprolib.coco import read_coco
    from reprolib.papers.choi.coco_task import select_images

    _write_coco(tmp_path)
    keep, objects, man = select_images(read_coco(tmp_path), ("truck", "fork"))
    np.testing.assert_array_equal(keep, [0, 1, 4])  # images 10, 11, 14
    np.testing.assert_array_equal(objects, [[1, 0], [1, 1], [1, 0]])
    np.testing.assert_array_equal(man, [1, 0, 0])


def test_choi_coco_task_embeds_with_resnet34(tmp_path, store_dir):
    from reprolib.papers.choi.coco_task import ChoiCoco, imagenet_weights_file

    _write_coco(tmp_path)
    task = ChoiCoco(root=str(tmp_path), objects=("truck", "fork"), image_size=32, test_share=0.34).build()
    assert task.train.images.shape[1:] == (512, 1, 1)
    assert len(task.train) + len(task.validation) + len(task.test) == 3
    expected = "ImageNet" if imagenet_weights_file().exists() else "random: no ImageNet weights"
    assert task.info["weights"].startswith(expected)
