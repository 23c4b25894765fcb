"""Typed specifications of what a run is made of: its task, model, method and recipe.

Each kind of component is a frozen dataclass subclass of ``Spec``, registered under a name by the package that
defines it (``@register_task("inversion")``, ``@register_model``, ``@register_method``, ``@register_transform``).
A spec carries its own defaults, validates itself when it is made (``SpecError``: one line naming the field and
its accepted range) and declares a ``version``: ``to_dict`` writes every field, defaults included, with the
name and version, so a run's store key — the hash of its filled-in specs — changes when a default changes or a
version is bumped, and a stored result is never served for a computation it did not come from.

``per_run`` names the fields in which runs trained together in one multi-run model may differ (the seed of a
task, the weight decay of a recipe, a method's λ); every other field must be equal within a group.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from .registry import Registry

__all__ = [
    "Spec",
    "SpecError",
    "TaskSpec",
    "ModelSpec",
    "MethodSpec",
    "TransformSpec",
    "TASKS",
    "MODELS",
    "METHODS",
    "TRANSFORMS",
    "register_task",
    "register_model",
    "register_method",
    "register_transform",
    "spec_from_dict",
    "check",
    "check_range",
    "check_choice",
    "strip_versions",
]


class SpecError(ValueError):
    """A field of a spec outside its accepted range; the message names the field and the range."""


def check(ok: bool, message: str) -> None:
    if not ok:
        raise SpecError(message)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_range(name: str, value, low=None, high=None, *, integer=False, open_low=False, open_high=False) -> None:
    """``value`` is a number (an integer with ``integer``) in the interval [low, high] (open ends as asked)."""
    ok = (isinstance(value, int) and not isinstance(value, bool)) if integer else _is_number(value)
    if ok and low is not None:
        ok = value > low if open_low else value >= low
    if ok and high is not None:
        ok = value < high if open_high else value <= high
    if not ok:
        if high is None:
            span = f"{'>' if open_low else '≥'} {low}"
        else:
            span = f"in {'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
        raise SpecError(f"{name} must be {'an integer' if integer else 'a number'} {span}, got {value!r}")


def check_choice(name: str, value, accepted: Sequence) -> None:
    if value not in accepted:
        raise SpecError(f"{name} must be one of {', '.join(map(str, accepted))}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class Spec:
    """Base of every spec. Subclasses are frozen dataclasses with defaults for every field."""

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    per_run: ClassVar[frozenset[str]] = frozenset()
    registry: ClassVar[Registry]

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise ``SpecError`` for a field outside its range; nothing to check by default."""

    def to_dict(self) -> dict:
        """Every field, defaults included, with the registered name and the version (what the store key hashes)."""
        values = {"name": self.name, "version": self.version}
        for field in dataclasses.fields(self):
            values[field.name] = _plain(getattr(self, field.name))
        return values

    def shared(self) -> dict:
        """``to_dict`` without the per-run fields: equal for every run of a multi-run group."""
        return {k: v for k, v in self.to_dict().items() if k not in self.per_run}

    def replace(self, **changes) -> Spec:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: dict) -> Spec:
        """The inverse of ``to_dict``: the spec registered under ``values["name"]`` in this kind's registry."""
        return spec_from_dict(cls.registry, values)


def _plain(value):
    if isinstance(value, Spec):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def spec_from_dict(registry: Registry, values: dict) -> Spec:
    """A spec from its ``to_dict``; a name not yet registered loads the papers first (e.g. in a submitit job's
    fresh process, which has imported none)."""
    values = dict(values)
    name = values.pop("name")
    if name not in registry:
        from .papers import load_papers

        load_papers()
    cls = registry.get(name)
    values.pop("version", None)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise SpecError(f"{registry.kind} {cls.name!r} has no field {unknown[0]!r}; fields: {', '.join(fields)}")
    kwargs = {}
    for name, value in values.items():
        nested = fields[name].metadata.get("spec")
        if nested is not None and isinstance(value, dict):
            value = spec_from_dict(nested, value)
        elif isinstance(value, list) and isinstance(fields[name].default, tuple):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def strip_versions(config):
    """``config`` without any ``version`` entry, at every depth (to find stored runs of an older version)."""
    if isinstance(config, dict):
        return {k: strip_versions(v) for k, v in config.items() if k != "version"}
    if isinstance(config, list):
        return [strip_versions(v) for v in config]
    return config


def _registrar(registry: Registry) -> Callable[[str], Callable[[type], type]]:
    def register(name: str):
        def wrap(cls: type) -> type:
            cls.name = name
            return registry.register(name)(cls)

        return wrap

    return register


TASKS: Registry = Registry("task")
MODELS: Registry = Registry("model")
METHODS: Registry = Registry("method")
TRANSFORMS: Registry = Registry("batch transform")

register_task = _registrar(TASKS)
register_model = _registrar(MODELS)
register_method = _registrar(METHODS)
register_transform = _registrar(TRANSFORMS)


@dataclasses.dataclass(frozen=True)
class TaskSpec(Spec):
    """A task builder: ``build(data_root)`` → ``tasks.Task`` (labels, groups, splits; seeded by its fields)."""

    registry: ClassVar[Registry] = TASKS

    def build(self, data_root) -> Any:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class ModelSpec(Spec):
    """An architecture: ``build(num_runs, in_shape, num_outputs)`` → a K-run ``nn.Module`` (see models.py)."""

    registry: ClassVar[Registry] = MODELS

    def build(self, num_runs: int, in_shape: tuple[int, int, int], num_outputs: int):
        raise NotImplementedError

    def load_weights(self, model) -> str:
        """Load weights over the seeded initialisation of ``model`` (``models.create_model``), e.g. ImageNet's
        from a local cache; returns a line for the run's record ('' when there is nothing to say). None here."""
        return ""

    @classmethod
    def from_name(cls, name: str) -> ModelSpec | None:
        """The spec a short name stands for (``"resnet20"``), or None if this model does not know the name."""
        return cls() if name == cls.name else None


@dataclasses.dataclass(frozen=True)
class MethodSpec(Spec):
    """A training method: ``objective(specs, tasks)`` → the objective of a group of runs (see objectives.py)."""

    registry: ClassVar[Registry] = METHODS

    @classmethod
    def objective(cls, specs: Sequence[MethodSpec], tasks: Sequence):
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class TransformSpec(Spec):
    """A per-batch input transform that may mix labels (mixup, CutMix, …), called by the trainer every step:
    ``spec(x, labels, generators)`` → ``(x, targets)``, x (K, B, C, H, W) on the [0, 1] scale, labels (K, B),
    one CPU generator per run; targets a list of (weights (K, B), labels (K, B)) whose weights sum to 1 per image."""

    registry: ClassVar[Registry] = TRANSFORMS

    def __call__(self, x, labels, generators):
        raise NotImplementedError
