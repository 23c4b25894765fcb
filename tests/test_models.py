import pytest
import torch

from reprolib.models import MODELS, ResNetCifar, count_parameters, create_model, parse_model
from reprolib.papers import load_papers
from reprolib.sources import SourceUnavailable
from reprolib.specs import SpecError

load_papers()  # every paper's models, whichever test file was collected first


@pytest.mark.parametrize(
    "model, expected",
    [("resnet20", 0.27e6), ("resnet110", 1.7e6), ("resnet56", 0.85e6), ("resnet18", 11.17e6)],
)
def test_parameter_counts_match_the_literature(model, expected):
    # He et al. (2016) Table 6: ResNet-20 0.27M, ResNet-56 0.85M, ResNet-110 1.7M (width 16).
    net = create_model(parse_model(model), seeds=[0], in_shape=(3, 32, 32))
    assert count_parameters(net) == pytest.approx(expected, rel=0.02)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_maps_k_runs_to_k_outputs(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no ImageNet weights here
    try:
        net = create_model(MODELS.get(name)(), seeds=[0, 1, 2], in_shape=(1, 8, 8))
    except SourceUnavailable as error:  # a model that must start from weights the user supplies (its own tests
        assert "\n" not in str(error) and str(tmp_path) in str(error)  # give it a tiny file): one line, the folder
        return
    out = net(torch.randn(3, 4, 1, 8, 8))
    assert out.shape == (3, 4, 1)


def test_run_k_of_a_group_equals_a_single_run_with_its_seed():
    group = create_model(ResNetCifar(depth=8), seeds=[5, 9, 11], in_shape=(3, 16, 16)).eval()
    alone = create_model(ResNetCifar(depth=8), seeds=[9], in_shape=(3, 16, 16)).eval()
    x = torch.randn(3, 6, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(group(x)[1], alone(x[1:2])[0], atol=1e-5)
    first_conv_group = group.stem[0].weight.chunk(3)[1]
    assert torch.equal(first_conv_group, alone.stem[0].weight)


def test_runs_do_not_see_each_others_inputs():
    net = create_model(ResNetCifar(depth=8), seeds=[0, 1], in_shape=(1, 8, 8)).eval()
    x = torch.randn(2, 3, 1, 8, 8)
    y = x.clone()
    y[0] += 10
    with torch.no_grad():
        assert torch.equal(net(x)[1], net(y)[1])


@pytest.mark.parametrize(
    "name, message",
    [
        ("resnet21", r"depth must be 6n\+2"),
        ("vgg16", "unknown model 'vgg16'"),
    ],
)
def test_bad_model_names(name, message):
    with pytest.raises(ValueError, match=message):
        parse_model(name)


def test_width_out_of_range():
    with pytest.raises(SpecError, match=r"width must be an integer in \[4, 64\], got 128"):
        ResNetCifar(depth=20, width=128)


def test_classy_resnet_option_projects_shortcuts_and_zero_inits_the_last_bn():
    from reprolib.models import BasicBlock

    he = create_model(ResNetCifar(depth=8, width=4), [0], (3, 8, 8))
    classy = create_model(ResNetCifar(depth=8, width=4, shortcut="B", zero_init_residual=True), [0], (3, 8, 8))
    blocks = [m for m in classy.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 3 and all(torch.all(b.bn2.weight == 0) for b in blocks)
    assert [b.projection is not None for b in blocks] == [False, True, True]  # 4→8 and 8→16 channels
    assert all(torch.all(m.bn2.weight == 1) for m in he.modules() if isinstance(m, BasicBlock))
    # Projections add 1×1 convs with BN: (4·8 + 16) + (8·16 + 32) = 208 parameters per run.
    assert count_parameters(classy) - count_parameters(he) == 208
    # A zero-initialised block starts as its shortcut: relu(shortcut(x)).
    x = torch.randn(2, 4, 8, 8)
    first = blocks[0].eval()
    assert torch.allclose(first(x), torch.relu(x))


def test_resnet_options_off_keep_the_store_key_of_earlier_runs():
    plain = ResNetCifar(depth=20).to_dict()
    assert "shortcut" not in plain and "zero_init_residual" not in plain  # the spec as stored before the options
    assert ResNetCifar.from_dict(plain) == ResNetCifar(depth=20)
    classy = ResNetCifar(depth=20, shortcut="B", zero_init_residual=True)
    assert classy.to_dict()["shortcut"] == "B" and ResNetCifar.from_dict(classy.to_dict()) == classy
    with pytest.raises(SpecError, match="shortcut must be one of A, B, got 'C'"):
        ResNetCifar(shortcut="C")


def test_the_authors_fashion_mnist_network_has_three_stages_of_two_blocks():
    import reprolib.papers.hall  # noqa: F401  (registers fmnist_resnet)

    model = create_model(parse_model("fmnist_resnet"), [0], (1, 28, 28), num_outputs=2)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) == 1 + 3 * 2 * 2  # stem + 3 stages × 2 blocks × 2 convs; + the fc: 14 layers
    assert [c.out_channels for c in convs[1::4]] == [64, 128, 256]
    assert model(torch.randn(1, 3, 1, 28, 28)).shape == (1, 3, 2)
