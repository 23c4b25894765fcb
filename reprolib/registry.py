"""Registries: where papers plug their pieces into the core (timm's ``@register_model``, generalised).

A ``Registry`` maps a name to a component (a spec class, a function, a chapter). A paper's package registers its
components when it is imported (``reprolib.papers.load_papers``); the core looks them up by name and never
imports a paper. An unknown name is a one-line error that lists the accepted names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["Registry", "UnknownName"]

T = TypeVar("T")


class UnknownName(ValueError):
    """A name no component is registered under; the message lists the accepted names."""


class Registry(Generic[T]):
    """Name → component of one kind (``kind`` names it in errors: "task", "model", "method", …)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the decorated component under ``name`` (a second registration must be the same
        object, so re-importing a module is harmless and two papers cannot silently claim one name)."""

        def wrap(component: T) -> T:
            previous = self._items.get(name)
            if previous is not None and previous is not component and _qualname(previous) != _qualname(component):
                raise ValueError(f"{self.kind} {name!r} is already registered by {_qualname(previous)}")
            self._items[name] = component
            return component

        return wrap

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except (KeyError, TypeError):
            accepted = ", ".join(sorted(self._items)) or "none registered"
            raise UnknownName(f"unknown {self.kind} {name!r}; accepted: {accepted}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> list[str]:
        return list(self._items)

    def items(self):
        return self._items.items()


def _qualname(component) -> str:
    return f"{getattr(component, '__module__', '?')}.{getattr(component, '__qualname__', repr(component))}"
