"""Chapter parameters: what each accepts, checked before anything trains.

A chapter declares ``parameters = {"eps": numbers(0, 0.5), "model": model(), ...}``; each entry is a check
``(name, value) -> cleaned value`` that raises ``ParameterError`` with one line naming the parameter and what it
accepts. Values arrive as YAML (``-p eps=[0.1,0.3]``) or from a notebook's parameters cell.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "ParameterError",
    "Check",
    "number",
    "numbers",
    "integer",
    "integers",
    "choice",
    "choices",
    "registered",
    "model",
    "folder",
    "seed",
    "device",
]

Check = Callable[[str, Any], Any]


class ParameterError(ValueError):
    """A parameter outside its accepted range; the message names the parameter and the range."""


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _span(low, high, open_low, open_high) -> str:
    return f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"


def _inside(value, low, high, open_low, open_high) -> bool:
    above = value > low if open_low else value >= low
    below = value < high if open_high else value <= high
    return above and below


def _as_list(value) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def number(low: float, high: float, open_low: bool = False, open_high: bool = False) -> Check:
    """One number in the interval."""
    span = _span(low, high, open_low, open_high)

    def check(name, value):
        if not _is_number(value) or not _inside(value, low, high, open_low, open_high):
            raise ParameterError(f"{name} must be a number in {span}, got {value!r}")
        return float(value)

    return check


def numbers(low: float, high: float, open_low: bool = False, open_high: bool = False, unique: bool = False) -> Check:
    """A number or a non-empty list of numbers in the interval (``unique``: sorted, each once)."""
    span = _span(low, high, open_low, open_high)

    def check(name, value):
        values = _as_list(value)
        if not values or not all(_is_number(v) for v in values):
            raise ParameterError(f"{name} must be a number or a list of numbers in {span}, got {value!r}")
        bad = [v for v in values if not _inside(v, low, high, open_low, open_high)]
        if bad:
            raise ParameterError(f"{name} must lie in {span}, got {bad[0]}")
        cleaned = [float(v) for v in values]
        return sorted(set(cleaned)) if unique else cleaned

    return check


def integer(low: int = 1, high: int | None = None) -> Check:
    """One integer in [low, high] (no upper end when ``high`` is None)."""
    span = f"in {low} … {high}" if high is not None else f"≥ {low}"

    def check(name, value):
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high)
        if not ok:
            raise ParameterError(f"{name} must be an integer {span}, got {value!r}")
        return value

    return check


def integers(low: int, high: int, allowed: Sequence[int] | None = None, what: str = "") -> Check:
    """An integer or a non-empty list of integers in [low, high] (and in ``allowed``), sorted, each once."""
    description = what or f"in [{low}, {high}]"

    def check(name, value):
        values = _as_list(value)
        ok = values and all(isinstance(v, int) and not isinstance(v, bool) for v in values)
        if not ok or any(not low <= v <= high or (allowed is not None and v not in allowed) for v in values):
            raise ParameterError(f"{name} must be an integer or a list of integers {description}, got {value!r}")
        return sorted(set(values))

    return check


def choice(*accepted) -> Check:
    """One of ``accepted``."""

    def check(name, value):
        if value not in accepted:
            raise ParameterError(f"{name} must be one of {', '.join(map(str, accepted))}, got {value!r}")
        return value

    return check


def choices(*accepted) -> Check:
    """One of ``accepted`` or a non-empty list of them."""

    def check(name, value):
        values = _as_list(value)
        bad = [v for v in values if v not in accepted]
        if not values or bad:
            shown = bad[0] if bad else value
            listed = ", ".join(map(str, accepted))
            raise ParameterError(f"{name} must be one of {listed} (or a list of them), got {shown!r}")
        return values

    return check


def registered(names: Callable[[], Sequence[str]], many: bool = False) -> Check:
    """A name (or with ``many`` a list of names) of a registry, read when the value is checked, so a name a paper
    registers later is accepted (e.g. the image sources of ``sources.SOURCES``)."""

    def check(name, value):
        return (choices if many else choice)(*names())(name, value)

    return check


def model(allowed: Sequence[str] | None = None, per_dataset: bool = False) -> Check:
    """A model name that ``models.parse_model`` knows (``resnet20``, ``resnet18``, ``mlp``, or a model a paper
    registered), optionally only from ``allowed``; with ``per_dataset`` also a mapping dataset → name."""

    def check(name, value):
        from .models import parse_model
        from .specs import SpecError

        if per_dataset and isinstance(value, dict):
            return {k: check(name, v) for k, v in value.items()}
        if allowed is not None and value not in allowed:
            raise ParameterError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        try:
            parse_model(value)
        except SpecError as error:
            raise ParameterError(f"{name}: {error}") from None
        return value

    return check


def folder(name, value):
    """A folder that exists (or None: the default data folder)."""
    if value is None:
        return None
    if not isinstance(value, str) or not Path(value).expanduser().is_dir():
        raise ParameterError(f"{name} must be an existing folder, got {value!r}")
    return str(Path(value).expanduser())


def seed(name, value):
    """An integer ≥ 0."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ParameterError(f"{name} must be an integer ≥ 0, got {value!r}")
    return value


def device(name, value):
    """``cpu``, ``cuda`` or ``cuda:N``, and a visible GPU for the latter two."""
    import torch

    if value not in ("cpu", "cuda") and not (isinstance(value, str) and value.startswith("cuda:")):
        raise ParameterError(f"device must be 'cpu' or 'cuda', got {value!r}")
    if value != "cpu" and not torch.cuda.is_available():
        raise ParameterError(f"device {value!r} was asked for but no CUDA GPU is visible; use device=cpu")
    return value
