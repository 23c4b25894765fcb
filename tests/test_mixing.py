import pytest
import torch

from reprolib.mixing import MIXINGS, cutmix, cutout, kway_mixup, maxup_copies, mixup, worst_of

STRENGTHS = {"mixup": {"alpha": 0.4}, "kway_mixup": {"k": 4}, "cutmix": {"alpha": 1.0}, "cutout": {"size": 3}}


def generators(*seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


def beta_draws(batch, alpha, g):
    """λ ~ Beta(α, α) per image, drawn as the mixing module draws it: Dirichlet(α, α)'s first coordinate."""
    return torch._sample_dirichlet(torch.full((batch, 2), alpha, dtype=torch.float64), generator=g)[:, 0].float()


def test_mixup_is_lambda_x_plus_one_minus_lambda_partner():
    x = torch.tensor([[[[0.0, 0.25], [0.5, 1.0]]], [[[0.8, 0.6], [0.4, 0.2]]]])[None]  # (1, 2, 1, 2, 2)
    labels = torch.tensor([[3, 7]])
    mixed, targets = mixup(x, labels, generators(5), alpha=0.5)

    g = torch.Generator().manual_seed(5)
    perm = torch.randperm(2, generator=g)
    lam = beta_draws(2, 0.5, g)
    expected = lam[:, None, None, None] * x[0] + (1 - lam)[:, None, None, None] * x[0, perm]
    assert torch.equal(mixed[0], expected)
    assert [(w.tolist(), y.tolist()) for w, y in targets] == [
        ([lam.tolist()], [[3, 7]]),
        ([(1 - lam).tolist()], [labels[0, perm].tolist()]),
    ]


def test_kway_mixup_weights_are_a_dirichlet_draw_and_mix_the_partners():
    labels = torch.randint(10, (2, 16), generator=torch.Generator().manual_seed(0))
    x = labels[..., None, None, None].float().expand(2, 16, 3, 4, 4) / 10  # each image constant at label / 10
    mixed, targets = kway_mixup(x, labels, generators(1, 2), k=4, alpha=1.0)
    weights = torch.stack([w for w, _ in targets])
    assert len(targets) == 4 and torch.equal(targets[0][1], labels)  # the image itself, then 3 partners
    assert (weights > 0).all() and torch.allclose(weights.sum(0), torch.ones(2, 16))
    expected = sum(w * y.float() / 10 for w, y in targets)
    assert torch.allclose(mixed, expected[..., None, None, None].expand_as(mixed))


def test_cutmix_label_weight_is_the_pasted_area_share_with_clipped_boxes():
    batch, side = 64, 8
    labels = torch.arange(batch)[None]
    x = (labels[..., None, None, None].float() / batch).expand(1, batch, 3, side, side)  # distinct constants
    mixed, [(own_weight, own), (share, partner)] = cutmix(x, labels, generators(3), alpha=1.0)
    assert torch.equal(own, labels) and torch.equal(own_weight + share, torch.ones(1, batch))

    changed = (mixed != x)[0]
    assert torch.equal(changed.all(1), changed.any(1))  # every channel pasted alike
    pasted = changed[:, 0].sum((1, 2))
    moved = partner[0] != labels[0]  # an image paired with itself looks unchanged
    assert moved.sum() > batch // 2
    assert torch.equal(share[0, moved] * side * side, pasted[moved].float())
    assert torch.equal(mixed[0][changed], (partner[0, :, None, None, None] / batch).expand_as(x[0])[changed])

    g = torch.Generator().manual_seed(3)
    torch.randperm(batch, generator=g)
    nominal = (side * torch.sqrt(1 - beta_draws(batch, 1.0, g))).long() ** 2
    pasted_area = (share[0] * side * side).round().long()
    assert (pasted_area <= nominal).all()
    assert (pasted_area[moved] < nominal[moved]).any()  # boxes clipped at the border are among those checked
    assert (pasted_area[moved] == nominal[moved]).any()  # and so are whole boxes


def test_cutout_zeroes_exactly_the_clipped_square_and_keeps_labels():
    batch, side, size = 32, 8, 5
    x = torch.ones(1, batch, 2, side, side)
    labels = torch.arange(batch)[None]
    mixed, targets = cutout(x, labels, generators(4), size=size)
    assert len(targets) == 1 and torch.equal(targets[0][1], labels)
    assert torch.equal(targets[0][0], torch.ones(1, batch))

    g = torch.Generator().manual_seed(4)
    rows = torch.randint(side, (batch,), generator=g)
    cols = torch.randint(side, (batch,), generator=g)
    expected = torch.ones(batch, side, side)
    for i in range(batch):
        top, left = rows[i].item() - size // 2, cols[i].item() - size // 2
        expected[i, max(top, 0) : top + size, max(left, 0) : left + size] = 0
    assert torch.equal(mixed[0], expected[:, None].expand(batch, 2, side, side))
    zeroed = (expected == 0).sum((1, 2))
    assert (zeroed < size * size).any() and (zeroed == size * size).any()  # clipped and whole squares both occur


def test_cutout_default_is_half_the_shorter_side():
    x = torch.ones(1, 64, 1, 8, 12)
    mixed, _ = cutout(x, torch.zeros(1, 64, dtype=torch.long), generators(0))
    assert (mixed == 0).sum((2, 3, 4)).max() == 16  # a 4 × 4 square where it is not clipped


@pytest.mark.parametrize("name", sorted(MIXINGS))
def test_a_run_mixed_in_a_group_equals_the_run_mixed_alone(name):
    x = torch.rand(3, 8, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    labels = torch.randint(5, (3, 8), generator=torch.Generator().manual_seed(1))
    fn, strength = MIXINGS[name], STRENGTHS[name]
    mixed, targets = fn(x, labels, generators(10, 11, 12), **strength)
    assert torch.allclose(sum(w for w, _ in targets), torch.ones(3, 8))
    assert all(w.dtype == x.dtype and y.dtype == torch.long for w, y in targets)
    for k, seed in enumerate((10, 11, 12)):
        alone, alone_targets = fn(x[k : k + 1], labels[k : k + 1], generators(seed), **strength)
        assert torch.equal(mixed[k : k + 1], alone)
        for (w, y), (w_alone, y_alone) in zip(targets, alone_targets, strict=True):
            assert torch.equal(w[k : k + 1], w_alone) and torch.equal(y[k : k + 1], y_alone)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("name", sorted(MIXINGS))
def test_mixing_on_the_gpu_matches_the_cpu(name):
    x = torch.rand(2, 8, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    labels = torch.randint(5, (2, 8), generator=torch.Generator().manual_seed(1))
    fn, strength = MIXINGS[name], STRENGTHS[name]
    mixed, targets = fn(x, labels, generators(7, 8), **strength)
    mixed_gpu, targets_gpu = fn(x.cuda(), labels.cuda(), generators(7, 8), **strength)
    assert mixed_gpu.device.type == "cuda" and torch.allclose(mixed_gpu.cpu(), mixed)
    for (w, y), (w_gpu, y_gpu) in zip(targets, targets_gpu, strict=True):
        assert torch.allclose(w_gpu.cpu(), w) and torch.equal(y_gpu.cpu(), y)


def test_maxup_copies_are_successive_draws_and_worst_of_keeps_the_largest_loss():
    x = torch.ones(2, 4, 1, 8, 8)
    labels = torch.zeros(2, 4, dtype=torch.long)
    copies = maxup_copies(cutout, 4, x, labels, generators(0, 1), size=3)
    gens = generators(0, 1)
    assert len(copies) == 4
    for mixed, _ in copies:
        assert torch.equal(mixed, cutout(x, labels, gens, size=3)[0])

    # 3 copies, 1 run, 2 images: the max is per image (image 0's worst is copy 1, image 1's is copy 0)
    losses = torch.tensor([[[1.0, 5.0]], [[3.0, 2.0]], [[2.0, 4.0]]], requires_grad=True)
    worst = worst_of(losses)
    assert worst.tolist() == [[3.0, 5.0]]
    worst.sum().backward()
    assert losses.grad.tolist() == [[[0.0, 1.0]], [[1.0, 0.0]], [[0.0, 0.0]]]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x, y, g: mixup(x, y, g, alpha=0), "alpha must be > 0, got 0"),
        (lambda x, y, g: cutmix(x, y, g, alpha=-1.0), "alpha must be > 0, got -1.0"),
        (lambda x, y, g: kway_mixup(x, y, g, k=1), "k must be an integer >= 2, got 1"),
        (lambda x, y, g: kway_mixup(x, y, g, k=3, alpha=0.0), "alpha must be > 0, got 0.0"),
        (lambda x, y, g: cutout(x, y, g, size=0), "size must be an integer in [1, 6] (the shorter image side), got 0"),
        (lambda x, y, g: cutout(x, y, g, size=7), "size must be an integer in [1, 6] (the shorter image side), got 7"),
        (lambda x, y, g: maxup_copies(cutout, 0, x, y, g), "m must be an integer >= 1, got 0"),
        (
            lambda x, y, g: mixup(x, y, g[:1]),
            "x must be (K, B, C, H, W) with one generator per run, got (2, 4, 1, 6, 8) and 1 generator(s)",
        ),
        (
            lambda x, y, g: worst_of(torch.ones(3, 2)),
            "losses must be (m, K, B): one loss per copy, run and image, got shape (3, 2)",
        ),
    ],
)
def test_bad_strengths_raise_one_line_errors(call, message):
    x, labels = torch.ones(2, 4, 1, 6, 8), torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(ValueError) as error:
        call(x, labels, generators(0, 1))
    assert str(error.value) == message
