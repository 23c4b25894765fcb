"""What every chapter of the book shares: presets, parameter validation, running its sweep, reading its results.

A chapter subclass declares its catalogue id, its notebook, its presets (``smoke``, ``course``, ``paper``) and a
validator per parameter; it turns a configuration into ``RunSpec`` objects and stored results into a figure and
a claims table. Validation happens in ``configure``, before anything trains.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from .models import parse_model
from .sources import SOURCES
from .store import ResultsStore
from .sweep import RunSpec, run_sweep

__all__ = ["Chapter", "PRESETS", "ParameterError", "ResultsMissing", "validators", "RESULTS_ONLY"]

PRESETS = ("smoke", "course", "paper")
ROOT = Path(__file__).resolve().parent.parent
RESULTS_ONLY = "REPROLIB_RESULTS_ONLY"  # set by `reprolib book`, `batch`, and `run` with submitit: never train


class ParameterError(ValueError):
    """A chapter parameter outside its accepted range; the message names the parameter and the range."""


class ResultsMissing(RuntimeError):
    """No stored result for a configuration that may not train (results-only mode); says what to run."""


class validators:
    """Validators: each returns the cleaned value or raises ParameterError naming the parameter."""

    @staticmethod
    def number_list(low: float, high: float) -> Callable[[str, Any], list[float]]:
        def check(name, value):
            values = value if isinstance(value, list | tuple) else [value]
            if not values or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                raise ParameterError(f"{name} must be a number or a list of numbers in [{low}, {high}], got {value!r}")
            bad = [v for v in values if not low <= v <= high]
            if bad:
                raise ParameterError(f"{name} must lie in [{low}, {high}], got {bad[0]}")
            return [float(v) for v in values]

        return check

    @staticmethod
    def number(low: float, high: float) -> Callable[[str, Any], float]:
        def check(name, value):
            if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
                raise ParameterError(f"{name} must be a number in [{low}, {high}], got {value!r}")
            return float(value)

        return check

    @staticmethod
    def positive_int(high: int | None = None) -> Callable[[str, Any], int]:
        def check(name, value):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1 or (high and value > high):
                limit = f"1 … {high}" if high else "≥ 1"
                raise ParameterError(f"{name} must be an integer in {limit}, got {value!r}")
            return value

        return check

    @staticmethod
    def datasets(name, value):
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if v not in SOURCES:
                raise ParameterError(f"dataset must be one of {', '.join(SOURCES)} (or a list of them), got {v!r}")
        return list(values)

    @staticmethod
    def model(name, value):
        if isinstance(value, dict):
            return {k: validators.model(name, v) for k, v in value.items()}
        try:
            parse_model(value)
        except (ValueError, TypeError) as error:
            raise ParameterError(f"{name}: {error}") from None
        return value

    @staticmethod
    def device(name, value):
        if value not in ("cpu", "cuda") and not (isinstance(value, str) and value.startswith("cuda:")):
            raise ParameterError(f"device must be 'cpu' or 'cuda', got {value!r}")
        if value != "cpu" and not torch.cuda.is_available():
            raise ParameterError(f"device {value!r} was asked for but no CUDA GPU is visible; use device=cpu")
        return value

    @staticmethod
    def choice(*accepted) -> Callable[[str, Any], Any]:
        def check(name, value):
            if value not in accepted:
                raise ParameterError(f"{name} must be one of {', '.join(map(str, accepted))}, got {value!r}")
            return value

        return check


class Chapter:
    id: str
    title: str
    notebook: str  # its MyST Markdown source (jupytext), a file name in notebooks/
    presets: dict[str, dict]
    parameters: dict[str, Callable[[str, Any], Any]]  # name → validator; "preset" and "device" are implicit

    @property
    def notebook_path(self) -> Path:
        return ROOT / "notebooks" / self.notebook

    def parameter_names(self) -> list[str]:
        return ["preset", *self.parameters, "device"]

    def configure(self, preset: str = "course", device: str = "cpu", **params) -> dict:
        """Preset values overridden by the non-None ``params``, validated. Raises ParameterError."""
        if preset not in self.presets:
            raise ParameterError(f"preset must be one of {', '.join(self.presets)}, got {preset!r}")
        unknown = sorted(set(params) - set(self.parameters))
        if unknown:
            raise ParameterError(
                f"unknown parameter {unknown[0]!r} for {self.id}; accepted: {', '.join(self.parameter_names())}"
            )
        config = {**self.presets[preset], **{k: v for k, v in params.items() if v is not None}}
        config = {
            name: self.parameters[name](name, value) if value is not None else None for name, value in config.items()
        }
        self.check(config)
        return {"preset": preset, "device": validators.device("device", device), **config}

    def summary(self, results: pd.DataFrame, config: dict) -> dict[str, str]:
        """The values the notebook's narrative cites, as text keyed by name; none by default."""
        return {}

    def glue(self, results: pd.DataFrame, config: dict) -> None:
        """Glue every value of ``summary`` (myst-nb) for ``{glue:text}`name``` in the notebook's Markdown; the
        cell shows nothing."""
        from myst_nb import glue

        for key, value in self.summary(results, config).items():
            glue(key, value, display=False)

    def check(self, config: dict) -> None:
        """Cross-parameter checks of a chapter; raise ParameterError."""

    def specs(self, config: dict) -> list[RunSpec]:
        raise NotImplementedError

    def run(
        self, config: dict, store: ResultsStore | None = None, progress: bool = True, **sweep_options
    ) -> pd.DataFrame:
        """Train what is missing from the store, then return this configuration's results.

        With ``$REPROLIB_RESULTS_ONLY`` set, train nothing: print which runs are missing, and raise
        ``ResultsMissing`` (naming the command to run) when none is stored."""
        store = store or ResultsStore()
        specs = self.specs(config)
        if not os.environ.get(RESULTS_ONLY):
            run_sweep(specs, store, device=config["device"], progress=progress, **sweep_options)
            return self.results(config, store, specs)
        results = self.results(config, store, specs)
        message = self.missing_message(config, store, specs)
        if results.empty:
            raise ResultsMissing(message)
        if message:
            print(message)
        return results

    def rerun_command(self, config: dict) -> str:
        """The ``reprolib run`` command that trains ``config``: its preset and the parameters that differ."""
        preset = self.configure(config["preset"], config["device"])
        changed = [
            f" -p {name}={json.dumps(config[name], separators=(',', ':'))}"
            for name in self.parameters
            if config.get(name) != preset.get(name)  # a parameter no preset sets is absent unless given
        ]
        device = f" --device {config['device']}" if config["device"] != "cpu" else ""
        return f"reprolib run {self.id} --preset {config['preset']}{''.join(changed)}{device}"

    def missing_message(
        self, config: dict, store: ResultsStore | None = None, specs: Sequence[RunSpec] | None = None
    ) -> str:
        """'' when every run of ``config`` is stored; otherwise a line saying how many are missing and what to run."""
        store = store or ResultsStore()
        keys = list(dict.fromkeys(s.key for s in (specs if specs is not None else self.specs(config))))
        states = [store.state(k) for k in keys]
        missing = len(keys) - states.count("done")
        if not missing:
            return ""
        detail = ", ".join(f"{states.count(s)} {s}" for s in ("failed", "running", "pending") if states.count(s))
        return (
            f"results missing: {missing} of {len(keys)} runs of {self.id} at preset {config['preset']} are not in "
            f"the results store ({detail}); run `{self.rerun_command(config)}`"
        )

    def failure_message(self, config: dict, store: ResultsStore | None = None) -> str:
        """'' unless every run of ``config`` failed (e.g. its data set is not on disk); then one line with the
        first run's error and the command that lists every error."""
        store = store or ResultsStore()
        keys = list(dict.fromkeys(s.key for s in self.specs(config)))
        if not keys or any(store.state(k) != "failed" for k in keys):
            return ""
        error = store.get(keys[0]).get("error", "unknown error")
        return (
            f"all {len(keys)} runs of {self.id} at preset {config['preset']} failed, the first with {error} "
            f"(`reprolib status {self.id} --preset {config['preset']} --errors` lists them)"
        )

    def results(
        self, config: dict, store: ResultsStore | None = None, specs: Sequence[RunSpec] | None = None
    ) -> pd.DataFrame:
        """Stored results of this configuration, one row per finished run; trains nothing."""
        store = store or ResultsStore()
        specs = specs if specs is not None else self.specs(config)
        frame = store.frame([s.key for s in specs])
        if frame.empty:
            return frame
        tags = pd.DataFrame([s.tags for s in specs], index=[s.key for s in specs])
        return frame.join(tags, on="key")

    def claims(self, results: pd.DataFrame, config: dict) -> pd.DataFrame:
        raise NotImplementedError

    def figure(self, results: pd.DataFrame, config: dict):
        raise NotImplementedError
