"""The toy paper's task: 8×8 stripes, the class is their orientation, the group their brightness."""

from dataclasses import dataclass
from typing import ClassVar

import torch

from reprolib.specs import TaskSpec, check_range, register_task
from reprolib.tasks import Split, Task, channel_stats, split_balanced


def _split(n: int, skew: float, generator: torch.Generator) -> Split:
    """n images: horizontal (class 0) or vertical (class 1) stripes; bright (group 1) with rate ``skew`` in class 1
    and 1 − ``skew`` in class 0 (exact counts); pixel noise on top."""
    labels = torch.arange(n) % 2
    groups = torch.zeros(n, dtype=torch.long)
    for c, rate in ((0, 1 - skew), (1, skew)):
        members = torch.nonzero(labels == c).flatten()
        groups[members[split_balanced(len(members), rate, generator)]] = 1
    stripes = (torch.arange(8) % 2).float()
    pattern = torch.where(labels[:, None, None] == 0, stripes[None, :, None].expand(n, 8, 8), stripes[None, None, :])
    level = 0.3 + 0.5 * groups[:, None, None]
    images = (level * (0.5 + 0.5 * pattern) + 0.1 * torch.randn(n, 8, 8, generator=generator)).clamp(0, 1)
    return Split((images * 255).round().to(torch.uint8)[:, None], labels, groups, labels)


@register_task("toy_stripes")
@dataclass(frozen=True)
class StripesTask(TaskSpec):
    """Toy stripes with a class–group correlation ``skew`` in the training split and none in the test split."""

    per_run: ClassVar[frozenset[str]] = frozenset({"seed", "skew"})

    skew: float = 0.9
    seed: int = 0
    size: int = 256

    def validate(self):
        check_range("skew", self.skew, 0, 1)
        check_range("seed", self.seed, 0, None, integer=True)
        check_range("size", self.size, 4, 100_000, integer=True)

    def build(self, data_root) -> Task:
        generator = torch.Generator().manual_seed(self.seed)
        train, test = _split(self.size, self.skew, generator), _split(self.size, 0.5, generator)
        mean, std = channel_stats(train.images)
        return Task("toy-stripes", train, test, mean, std, {"num_classes": 2}, evaluator="classification")
