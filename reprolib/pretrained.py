"""ImageNet weights for the K-run models: torchvision's weight files, read from the torch hub cache the user fills
(``torch.hub.get_dir()/checkpoints``, under ``$TORCH_HOME``), never downloaded, and copied into every run.

A paper's model spec names the torchvision weights it can start from (``hub_files``) and decides what to do when
none is there (``ModelSpec.load_weights``: fall back to its seeded initialisation and say so, or fail in one
line); ``load_into_runs`` copies the first file found into every run of the model.
"""

from __future__ import annotations

from pathlib import Path

import torch

__all__ = ["hub_folder", "hub_files", "copy_into_runs", "load_into_runs"]


def hub_folder() -> Path:
    """Where torchvision keeps downloaded weights: ``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME/hub/…``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def hub_files(*weights) -> list[Path]:
    """The files torchvision saves ``weights`` (``torchvision.models`` weight enums, preferred first) under."""
    return [hub_folder() / Path(w.url).name for w in weights]


def copy_into_runs(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy a one-run torchvision state dict (its ``fc`` left out) into every run of a K-run ``model`` whose
    state dict, its ``head`` left out, lists the same entries in the same order: entry by entry, each repeated K
    times along its first dimension (run k's block of a grouped convolution or BatchNorm). Raises ValueError
    naming the first entry whose shape does not fit."""
    source = [(name, value) for name, value in state.items() if not name.startswith("fc.")]
    target = [(name, value) for name, value in model.state_dict().items() if not name.startswith("head.")]
    if len(source) != len(target):
        raise ValueError(f"the state dict has {len(source)} entries besides fc, the model {len(target)}")
    k = model.num_runs
    with torch.no_grad():
        for (name, value), (own, tensor) in zip(source, target, strict=True):
            value = value.repeat(k, *[1] * (value.dim() - 1)) if value.dim() else value
            if value.shape != tensor.shape:
                raise ValueError(f"{name} {tuple(value.shape)} does not fit {own} {tuple(tensor.shape)} of {k} runs")
            tensor.copy_(value)


def load_into_runs(model: torch.nn.Module, files: list[Path]) -> Path | None:
    """Copy the first of ``files`` that exists into every run of ``model`` (``copy_into_runs``); the file used, or
    None when there is none (the model is left as it was)."""
    path = next((p for p in files if p.exists()), None)
    if path is not None:
        copy_into_runs(model, torch.load(path, map_location="cpu", weights_only=True))
    return path
