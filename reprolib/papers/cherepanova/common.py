"""What the chapters of Cherepanova's thesis chapters 3, 5 and 6 share: the face models' training routine."""

from __future__ import annotations

from ...training import Recipe

__all__ = ["face_recipe"]


def face_recipe(config) -> Recipe:
    """The face models' training routine (thesis §3.8.1, §6.9.2): SGD, momentum 0.9, weight decay 5·10⁻⁴, lr ÷ 10
    at epochs 35, 65 and 95 of 120, scaled to ``epochs``; ``batch_size`` and ``lr`` of the configuration."""
    return Recipe(
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        lr=config["lr"],
        momentum=0.9,
        weight_decay=5e-4,
        lr_drops=(35 / 120, 65 / 120, 95 / 120),
    )
