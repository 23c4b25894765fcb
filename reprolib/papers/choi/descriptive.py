"""The descriptive model of §3.3: an energy-based model of the training embeddings, sampled by Langevin dynamics.

The paper's model (after Lu, Zhu & Wu 2016) is the Gibbs distribution p(x; w) ∝ exp(−U(x, w)) with

    U(x, w) = −f_w(x) + ‖x‖² / (2σ²),

f_w the sum of learned filter responses, and its samples come from Langevin dynamics,

    x^{t+1} = x^t − (ε²/2) ∂U/∂x (x^t, w) + ε Z,   Z ~ N(0, I).

The paper's f_w is a CNN over image positions; the inputs here are embedding vectors (§4.1), which have no
positions, so f_w is a multi-layer perceptron (``hidden`` widths, ReLU, one output): a vector's "filters" are its
hidden units. Everything the paper leaves open is a field of ``DescriptiveModel``: the architecture, σ, the step
size ε, the number of Langevin steps, a ``noise`` factor on ε Z (1 is the paper's dynamics; below 1 the chains
are tempered), and the learning schedule. Every chain starts from the reference distribution N(0, σ² I), the
Gaussian part of U (short-run chains, as in the learning of Lu et al.'s FRAME models by sampling from a fixed
start each iteration).

Learning (Lu et al. 2016, eq. 7): the gradient of the log-likelihood is E_obs[∂f/∂w] − E_syn[∂f/∂w], so each
iteration draws ``chains`` synthetic embeddings by Langevin dynamics from the current model and takes an Adam
step on mean f(syn) − mean f(obs) over a batch of as many observed embeddings. The model lives in the space the
classifier sees (``embeddings.standardised``), so its samples go straight into the classifier.

``DescriptiveModel`` is a stored artifact (``reprolib.artifacts``): learning it and drawing the paper's 1,760
offline samples happen once per (task, configuration, seed), and the weights are kept so the auxiliary loss can
draw fresh samples every epoch (``sampling="online"``, the paper's §5 suggestion).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

from ...artifacts import ArtifactSpec, register_artifact
from ...models import MultiMLP, init_per_run
from ...specs import TASKS, TaskSpec, check, check_range
from .embeddings import standardised

__all__ = ["DescriptiveModel", "energy_net", "energy", "langevin", "load_energy_net", "PAPER_SAMPLES"]

PAPER_SAMPLES = 1760  # §5: "our experiment sampled 1760 synthetic data instances all at once offline"


def energy_net(num_runs: int, dim: int, hidden: tuple[int, ...]) -> MultiMLP:
    """f_w for ``num_runs`` models at once: (K, M, dim) → (K, M, 1)."""
    return MultiMLP(num_runs, (dim, *hidden, 1))


def energy(net: MultiMLP, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """U(x, w) = −f_w(x) + ‖x‖² / (2σ²) of (K, M, D) points, (K, M)."""
    return -net(x)[..., 0] + x.pow(2).sum(-1) / (2 * sigma**2)


def _normal(shape, generators) -> torch.Tensor:
    """(K, *shape) standard normal draws, run k's from its own generator (so a run draws the same numbers
    whichever runs share its group)."""
    return torch.stack([torch.randn(shape, generator=g) for g in generators])


def langevin(
    net: MultiMLP, x: torch.Tensor, sigma: float, step_size: float, steps: int, noise: float, generators
) -> torch.Tensor:
    """``steps`` Langevin updates x ← x − (ε²/2) ∂U/∂x + noise · ε Z of (K, M, D) chains; run k's Z drawn from
    ``generators[k]``. The weights of ``net`` receive no gradient."""
    x = x.detach()
    for _ in range(steps):
        x.requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(energy(net, x, sigma).sum(), x)
        z = _normal(x.shape[1:], generators).to(x.device)
        x = (x - step_size**2 / 2 * grad + noise * step_size * z).detach()
    return x


@register_artifact("choi_descriptive_model")
@dataclass(frozen=True)
class DescriptiveModel(ArtifactSpec):
    """The descriptive model of one task's training embeddings (module docstring). ``task`` is None inside a
    method spec (the method fills in each run's task and seed); ``compute`` needs it set.

    Arrays: ``samples`` (n_samples, D), the offline synthetic embeddings; ``observed_energy`` and
    ``synthetic_energy`` (iterations,), the mean U of the observed batch and of the synthetic chains at every
    learning iteration; ``weight_<i>`` / ``bias_<i>``, the learned f_w (one run)."""

    task: TaskSpec | None = field(default=None, metadata={"spec": TASKS})
    seed: int = 0
    hidden: tuple[int, ...] = (64, 64)
    sigma: float = 1.0
    step_size: float = 0.1
    langevin_steps: int = 60
    noise: float = 1.0
    iterations: int = 200
    chains: int = 256
    lr: float = 1e-3
    n_samples: int = PAPER_SAMPLES

    def validate(self):
        check(self.task is None or isinstance(self.task, TaskSpec), f"task must be a task spec, got {self.task!r}")
        check_range("seed", self.seed, 0, None, integer=True)
        check(
            len(self.hidden) >= 1 and all(isinstance(h, int) and 1 <= h <= 4096 for h in self.hidden),
            f"hidden must be one or more widths in [1, 4096], got {self.hidden}",
        )
        check_range("sigma", self.sigma, 0, 100, open_low=True)
        check_range("step_size", self.step_size, 0, 10, open_low=True)
        check_range("langevin_steps", self.langevin_steps, 1, 100_000, integer=True)
        check_range("noise", self.noise, 0, 10)
        check_range("iterations", self.iterations, 1, 1_000_000, integer=True)
        check_range("chains", self.chains, 2, 1_000_000, integer=True)
        check_range("lr", self.lr, 0, 1, open_low=True)
        check_range("n_samples", self.n_samples, 1, 1_000_000, integer=True)

    def for_run(self, task: TaskSpec, seed: int) -> DescriptiveModel:
        return dataclasses.replace(self, task=task, seed=seed)

    def sample(self, net: MultiMLP, n: int, generators) -> torch.Tensor:
        """n synthetic embeddings per run of ``net``, (K, n, D): chains from N(0, σ² I) run for ``langevin_steps``
        steps, run k's randomness from ``generators[k]``."""
        start = self.sigma * _normal((n, net[0].weight.shape[1]), generators).to(net[0].weight.device)
        return langevin(net, start, self.sigma, self.step_size, self.langevin_steps, self.noise, generators)

    def compute(self, data_root) -> dict[str, np.ndarray]:
        if self.task is None:
            raise ValueError("a descriptive model needs its task (DescriptiveModel.for_run)")
        observed = standardised(self.task.build(data_root), "train")
        n, dim = observed.shape
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        net = energy_net(1, dim, self.hidden)
        init_per_run(net, [self.seed])
        optimizer = torch.optim.Adam(net.parameters(), lr=self.lr)
        curves = np.zeros((2, self.iterations))
        for it in range(self.iterations):
            batch = observed[torch.randint(n, (self.chains,), generator=generator)][None]
            synthetic = self.sample(net, self.chains, [generator])
            loss = net(synthetic).mean() - net(batch).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                curves[:, it] = [energy(net, batch, self.sigma).mean(), energy(net, synthetic, self.sigma).mean()]
        samples = self.sample(net, self.n_samples, [generator])[0]
        weights = {}
        for i, layer in enumerate(m for m in net if hasattr(m, "weight")):
            weights[f"weight_{i}"] = layer.weight.detach().numpy()
            weights[f"bias_{i}"] = layer.bias.detach().numpy()
        return {
            "samples": samples.numpy(),
            "observed_energy": curves[0],
            "synthetic_energy": curves[1],
            **weights,
        }


def load_energy_net(arrays: list[dict[str, np.ndarray]], hidden: tuple[int, ...]) -> MultiMLP:
    """One K-run f_w from the arrays of K stored descriptive models (run k's weights in block k)."""
    dim = arrays[0]["weight_0"].shape[1]
    net = energy_net(len(arrays), dim, hidden)
    layers = [m for m in net if hasattr(m, "weight")]
    with torch.no_grad():
        for i, layer in enumerate(layers):
            layer.weight.copy_(torch.from_numpy(np.concatenate([a[f"weight_{i}"] for a in arrays])))
            layer.bias.copy_(torch.from_numpy(np.concatenate([a[f"bias_{i}"] for a in arrays])))
    net.requires_grad_(False)
    return net
