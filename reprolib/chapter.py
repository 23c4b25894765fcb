"""What every chapter of the book shares: presets, parameter checks, running its sweep, reading its results.

A chapter subclass declares its catalogue id, its notebook, its presets (``smoke``, ``course``, ``paper``) and a
check per parameter (``params.py``); it turns a configuration into ``RunSpec`` objects and stored results into a
figure and a claims table. Validation happens in ``configure``, before anything trains. A paper's package
registers its chapters with ``register_chapter``; ``reprolib.chapters`` finds them.

A chapter declares the verdict rules its claims use (``claim_rules``, names in ``reprolib.verdicts.RULES``);
judging the claims with a rule it does not declare is an error, so the declaration is what the claims do, and
``tests/test_verdict_calibration.py`` checks that every declared rule has a calibration scenario for the chapter.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from . import params as P
from . import verdicts as V
from .params import Check, ParameterError
from .registry import Registry
from .store import RESULTS_ONLY, ResultsStore, current_store, using_store
from .sweep import RunSpec, run_sweep

__all__ = [
    "Chapter",
    "PRESETS",
    "ParameterError",
    "ResultsMissing",
    "RESULTS_ONLY",
    "CHAPTERS",
    "register_chapter",
    "run_ids",
]
FIRST_RUN = P.integer(0, 1_000_000)


def run_ids(config: dict) -> range:
    """The runs of a chapter's ``config``: ``runs`` indices from ``first_run``; run r is seeded by r."""
    first = config.get("first_run") or 0
    return range(first, first + config["runs"])


PRESETS = ("smoke", "course", "paper")
ROOT = Path(__file__).resolve().parent.parent


class ResultsMissing(RuntimeError):
    """No stored result for a configuration that may not train (results-only mode); says what to run."""


def _judged_by_declared_rules(claims: Callable) -> Callable:
    """``claims`` that raises when a rule of ``reprolib.verdicts.RULES`` not in the chapter's ``claim_rules``
    judged a claim (a rule must be calibrated for the chapter before it judges real runs)."""

    @functools.wraps(claims)
    def judged(self, results, config):
        with V.rules_recorded() as used:
            table = claims(self, results, config)
        undeclared = sorted(used - set(self.claim_rules))
        if undeclared:
            raise ValueError(
                f"{self.id}: claims judged by {', '.join(undeclared)}, not in its claim_rules "
                f"({', '.join(self.claim_rules) or 'none'}); declare the rule and register its calibration scenario"
            )
        return table

    return judged


class Chapter:
    """A chapter of the book: a catalogue id, a notebook, presets and parameters, run specs, results, claims."""

    id: str
    title: str
    notebook: str  # its MyST Markdown source (jupytext), a file name in ``notebooks_dir``
    notebooks_dir: Path = ROOT / "notebooks"
    presets: dict[str, dict]
    parameters: dict[str, Check]  # name → check; "preset" and "device" are implicit
    restates_claims: bool = False  # True for a closing page that repeats other chapters' claims (K-SUM): not tallied
    claim_rules: tuple[str, ...] = ()  # the verdict rules (``verdicts.RULES`` names) its claims are judged by

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "claims" in cls.__dict__:
            cls.claims = _judged_by_declared_rules(cls.__dict__["claims"])

    @property
    def notebook_path(self) -> Path:
        return self.notebooks_dir / self.notebook

    def all_parameters(self) -> dict[str, Check]:
        """The chapter's parameters; a chapter with ``runs`` also takes ``first_run`` (right after it): the index
        of its first run, so that ``first_run=10000`` trains a second, disjoint set of seeds (and class
        assignments) to check that a verdict does not depend on the seeds."""
        checks = {}
        for name, check in self.parameters.items():
            checks[name] = check
            if name == "runs":
                checks["first_run"] = FIRST_RUN
        return checks

    def parameter_names(self) -> list[str]:
        return ["preset", *self.all_parameters(), "device"]

    def configure(self, preset: str = "course", device: str = "cpu", **params) -> dict:
        """Preset values overridden by the non-None ``params``, validated. Raises ParameterError."""
        if preset not in self.presets:
            raise ParameterError(f"preset must be one of {', '.join(self.presets)}, got {preset!r}")
        checks = self.all_parameters()
        unknown = sorted(set(params) - set(checks))
        if unknown:
            raise ParameterError(
                f"unknown parameter {unknown[0]!r} for {self.id}; accepted: {', '.join(self.parameter_names())}"
            )
        defaults = {"first_run": 0} if "first_run" in checks else {}
        config = {**defaults, **self.presets[preset], **{k: v for k, v in params.items() if v is not None}}
        config = {name: checks[name](name, value) if value is not None else None for name, value in config.items()}
        self.check(config)
        return {"preset": preset, "device": P.device("device", device), **config}

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
        """Train what is missing from the store (everything with ``force=True``), then return this
        configuration's results.

        With ``$REPROLIB_RESULTS_ONLY`` set, train nothing: print which runs are missing, and raise
        ``ResultsMissing`` (naming the command to run) when none is stored."""
        store = store or current_store()
        specs = self.specs(config)
        if not os.environ.get(RESULTS_ONLY):
            with using_store(store):
                run_sweep(specs, store, device=config["device"], progress=progress, **sweep_options)
                results = self.results(config, store, specs)
                self.prepare(results, config)
                return results
        results = self.results(config, store, specs)
        message = self.missing_message(config, store, specs)
        if results.empty:
            raise ResultsMissing(message)
        if message:
            print(message)
        return results

    def prepare(self, results: pd.DataFrame, config: dict) -> None:
        """Computations on the stored runs that the page shows but ``results`` does not compute (e.g. an
        attacker on stored outputs, kept as an artifact); ``run`` calls it after training, so that the page,
        executed in results-only mode, reads them. Nothing by default."""

    def rerun_command(self, config: dict) -> str:
        """The ``reprolib run`` command that trains ``config``: its preset and the parameters that differ."""
        preset = self.configure(config["preset"], config["device"])
        changed = [
            f" -p {name}={json.dumps(config[name], separators=(',', ':'))}"
            for name in self.all_parameters()
            if config.get(name) != preset.get(name)  # a parameter no preset sets is absent unless given
        ]
        device = f" --device {config['device']}" if config["device"] != "cpu" else ""
        return f"reprolib run {self.id} --preset {config['preset']}{''.join(changed)}{device}"

    def missing_message(
        self, config: dict, store: ResultsStore | None = None, specs: Sequence[RunSpec] | None = None
    ) -> str:
        """'' when every run of ``config`` is stored; otherwise a line saying how many are missing and what to run."""
        store = store or current_store()
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

    def has_results(self, config: dict, store: ResultsStore | None = None) -> bool:
        """Whether ``config`` has anything stored to show: some run done, or no run to train (a figure of the
        data). The book renders a page without as its code, not run."""
        store = store or current_store()
        specs = self.specs(config)
        return not specs or any(store.is_done(spec.key) for spec in specs)

    def failure_message(self, config: dict, store: ResultsStore | None = None) -> str:
        """'' unless every run of ``config`` failed (e.g. its data set is not on disk); then one line with the
        first run's error and the command that lists every error."""
        store = store or current_store()
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
        store = store or current_store()
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


CHAPTERS: Registry[Chapter] = Registry("chapter")


def register_chapter(chapter: Chapter) -> Chapter:
    """Register a chapter instance under its catalogue id (called by its paper's package)."""
    return CHAPTERS.register(chapter.id)(chapter)
