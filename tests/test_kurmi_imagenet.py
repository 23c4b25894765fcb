"""K-T3's `paper` network (reprolib.papers.kurmi.resnet18): torchvision's ResNet-18, K runs at once, from ImageNet
weights read from the torch hub cache (reprolib.pretrained) — tested on a tiny weights file in torchvision's
state-dict format; and the K-T3 `paper` preset that uses it (LfF's CelebA protocol)."""

import pytest
import torch

from reprolib.chapters import get_chapter
from reprolib.models import MultiResNet, create_model
from reprolib.papers.kurmi.methods import Vanilla
from reprolib.papers.kurmi.resnet18 import ImageNetResNet18
from reprolib.papers.kurmi.skew_tasks import GreyColourTask
from reprolib.pretrained import copy_into_runs
from reprolib.sources import SourceUnavailable
from reprolib.store import ResultsStore
from reprolib.sweep import RunSpec, run_sweep
from reprolib.training import Recipe

WEIGHTS_FILE = "resnet18-f37072fd.pth"  # torchvision's name for ResNet18_Weights.IMAGENET1K_V1


def _torchvision_names() -> list[str]:
    from torchvision.models import resnet18

    with torch.device("meta"):
        return list(resnet18().state_dict())


def _tiny_weights_file(folder, width=4) -> dict[str, torch.Tensor]:
    """A ResNet-18 state dict at ``width`` under torchvision's names and order (its ``fc`` included), seeded
    random values, saved where torchvision keeps the real file; returned."""
    reference = MultiResNet(1, 3, 2, (width, 2 * width, 4 * width, 8 * width), (2, 2, 2, 2), "B", stem="imagenet")
    generator = torch.Generator().manual_seed(0)
    values = [v for k, v in reference.state_dict().items() if not k.startswith("head.")]
    values += [torch.zeros(1000, 8 * width), torch.zeros(1000)]
    state = {}
    for name, value in zip(_torchvision_names(), values, strict=True):
        state[name] = value if value.dtype == torch.long else torch.rand(value.shape, generator=generator) + 0.5
    folder.mkdir(parents=True)
    torch.save(state, folder / WEIGHTS_FILE)
    return state


def test_the_network_is_torchvisions_resnet18_with_two_fully_connected_layers():
    from torchvision.models import resnet18

    torch.manual_seed(0)
    theirs = resnet18().eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so that a misplaced entry shows
        for module in theirs.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    ours = ImageNetResNet18(head_hidden=256).build(2, (3, 32, 32), 2).eval()
    copy_into_runs(ours, theirs.state_dict())
    x = torch.rand(3, 3, 32, 32)
    trunk = torch.nn.Sequential(*list(theirs.children())[:-1])  # every layer but fc: pooled 512 features
    with torch.no_grad():
        expected = trunk(x).flatten(1)
        features = ours.features(x.expand(2, -1, -1, -1, -1))
    assert features.shape == (2, 3, 512)
    assert torch.allclose(features[0], expected, atol=1e-5) and torch.allclose(features[1], expected, atol=1e-5)
    assert [tuple(p.shape) for p in ours.head.parameters()] == [(2, 512, 256), (2, 1, 256), (2, 256, 2), (2, 1, 2)]


def test_imagenet_weights_are_read_from_the_hub_cache_into_every_run(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    state = _tiny_weights_file(tmp_path / "hub" / "checkpoints")
    model = create_model(ImageNetResNet18(width=4, head_hidden=8), [0, 1], (3, 16, 16), 2)
    assert model.weights_note == f"ImageNet weights from {tmp_path / 'hub' / 'checkpoints' / WEIGHTS_FILE}"
    stem = model.stem[0].weight
    assert torch.equal(stem[:4], state["conv1.weight"]) and torch.equal(stem[4:], state["conv1.weight"])
    downsample = model.layers[2].projection[1].running_var
    assert torch.equal(downsample, state["layer2.0.downsample.1.running_var"].repeat(2))
    # the head is not ImageNet's: each run keeps its own seeded initialisation
    assert not torch.equal(model.head[0].weight[0], model.head[0].weight[1])


def test_without_the_weights_file_a_run_fails_in_one_line_and_nothing_is_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(SourceUnavailable) as error:
        create_model(ImageNetResNet18(), [0], (3, 32, 32), 2)
    message = str(error.value)
    assert "\n" not in message and not (tmp_path / "hub").exists()
    assert message.startswith(f"resnet18_imagenet needs ImageNet weights: {WEIGHTS_FILE} is not in {tmp_path}")


def test_a_run_from_the_weights_file_records_which_weights_it_started_from(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    _tiny_weights_file(tmp_path / "torch" / "hub" / "checkpoints")
    store = ResultsStore(tmp_path / "results")
    model, recipe = ImageNetResNet18(width=4, head_hidden=8), Recipe(epochs=1, batch_size=64)
    spec = RunSpec(GreyColourTask(), model, recipe, seed=0, method=Vanilla())
    run_sweep([spec], store, progress=False)
    record = store.get(spec.key)
    assert record["status"] == "done"
    path = tmp_path / "torch" / "hub" / "checkpoints" / WEIGHTS_FILE
    assert record["environment"]["weights"] == f"ImageNet weights from {path}"


def test_the_celeba_paper_preset_is_lffs_protocol_with_every_layer_trained():
    chapter = get_chapter("K-T3")
    config = chapter.configure("paper")
    assert (config["dataset"], config["image_size"], config["model"], config["width"]) == (
        "celeba",
        224,
        "resnet18_imagenet",
        64,
    )
    recipe = chapter.recipe(config)
    assert (recipe.optimizer, recipe.lr, recipe.weight_decay, recipe.batch_size, recipe.epochs) == (
        "adam",
        1e-4,
        1e-4,
        256,
        200,
    )
    assert recipe.lr_drops == () and recipe.warmup_epochs == 0 and recipe.augment == "pad_crop_flip"
    assert recipe.crop_padding == 0  # LfF's transform: a horizontal flip, no crop
    assert chapter.model_spec(config) == ImageNetResNet18(width=64, head_hidden=256)
    assert all(t.image_size == 224 for t in chapter.settings(config).values())
