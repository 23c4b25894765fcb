"""The toy paper's method: cross-entropy with label smoothing (Szegedy et al. 2016, §7)."""

from dataclasses import dataclass

import torch.nn.functional as F

from reprolib.objectives import CrossEntropy, mixed_loss
from reprolib.specs import MethodSpec, check_range, register_method


class SmoothedCrossEntropy(CrossEntropy):
    def __init__(self, num_classes: int, smoothing: float):
        super().__init__(num_classes)
        self.smoothing = smoothing

    def _per_image(self, logits, labels):
        flat = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none", label_smoothing=self.smoothing)
        return flat.view(labels.shape)

    def loss(self, model, extra, batch):
        return mixed_loss(self._per_image, model(batch.x).float(), batch.targets).mean(1)


@register_method("smoothed_ce")
@dataclass(frozen=True)
class SmoothedCE(MethodSpec):
    """Cross-entropy against targets smoothed by ``smoothing``."""

    smoothing: float = 0.1

    def validate(self):
        check_range("smoothing", self.smoothing, 0, 1, open_high=True)

    @classmethod
    def objective(cls, specs, tasks):
        return SmoothedCrossEntropy(tasks[0].info["num_classes"], specs[0].smoothing)
