"""Parameter batches: a YAML file lists parameter sets for one or more chapters; one command runs them all.

    # batch.yml
    - chapter: H-RQ1
      preset: course
      params: {eps: [0.1, 0.3], runs: 20}
    - {chapter: H-RQ1, preset: course, params: {model: resnet20}}

Every entry becomes one page of the book, ``book/chapters/<notebook's stem>--<hash>.ipynb`` (the hash is of the
chapter, preset and parameters), listed under "Parameter batches"; its parameters are shown at its top. The
runs of all entries are trained together by one launcher, and a run already stored is never trained again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from .book import add_header, chapters_dir, render
from .chapters import get_chapter
from .params import ParameterError
from .store import config_key
from .sweep import RunSpec

__all__ = ["BatchEntry", "read_batch", "entries_in_book", "yaml_problem"]

BATCH_METADATA = "reprolib_batch"  # notebook metadata of a batch page: its chapter, preset and params


@dataclass(frozen=True)
class BatchEntry:
    chapter: str
    preset: str = "course"
    params: dict = field(default_factory=dict)

    def config(self, device: str = "cpu") -> dict:
        return get_chapter(self.chapter).configure(self.preset, device, **self.params)

    def specs(self, device: str = "cpu") -> list[RunSpec]:
        return get_chapter(self.chapter).specs(self.config(device))

    @property
    def suffix(self) -> str:
        return "--" + config_key({"chapter": self.chapter, "preset": self.preset, "params": self.params})[:8]

    def output(self) -> Path:
        return chapters_dir() / f"{Path(get_chapter(self.chapter).notebook).stem}{self.suffix}.ipynb"

    def describe(self) -> str:
        values = ", ".join(f"`{name}={value!r}`" for name, value in self.params.items()) or "the preset's values"
        return f"preset `{self.preset}`, {values}"

    def render(self, device: str = "cpu") -> str:
        """Write this entry's page from stored results; returns '' or the 'results missing' line."""
        output = self.output()
        message = render(get_chapter(self.chapter), {"preset": self.preset, "device": device, **self.params}, output)
        header = f":::{{note}}\nParameter batch: this page is {self.chapter} at {self.describe()}.\n:::"
        metadata = {BATCH_METADATA: {"chapter": self.chapter, "preset": self.preset, "params": self.params}}
        add_header(output, header, self.suffix, f" ({self.describe()})", metadata)
        return message


def entries_in_book() -> list[BatchEntry]:
    """The batch entries whose pages are in the book (read back from their notebooks' metadata)."""
    entries = []
    for path in sorted(chapters_dir().glob("*--*.ipynb")):
        values = nbformat.read(path, as_version=4).metadata.get(BATCH_METADATA)
        if values:
            entries.append(BatchEntry(values["chapter"], values["preset"], values["params"]))
    return entries


def yaml_problem(error: yaml.YAMLError) -> str:
    """A YAML error in one line: what is wrong and where (PyYAML's message spans several lines)."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        where = f"line {error.problem_mark.line + 1}, column {error.problem_mark.column + 1}"
        return f"{error.context + ': ' if error.context else ''}{error.problem} at {where}"
    return " ".join(str(error).split())


def read_batch(path: str | Path) -> list[BatchEntry]:
    """The entries of a batch file, each validated against its chapter (ParameterError naming the entry)."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as error:
        raise ParameterError(f"batch file {path}: {error}") from None
    except yaml.YAMLError as error:
        raise ParameterError(f"batch file {path}: not valid YAML ({yaml_problem(error)})") from None
    if not isinstance(raw, list) or not raw:
        raise ParameterError(f"batch file {path} must be a non-empty YAML list of {{chapter, preset, params}} entries")
    entries = []
    for number, item in enumerate(raw, 1):
        if not isinstance(item, dict) or "chapter" not in item or set(item) - {"chapter", "preset", "params"}:
            raise ParameterError(
                f"batch entry {number} must be a mapping with chapter, preset and params, got {item!r}"
            )
        params = item.get("params") or {}
        if not isinstance(params, dict):
            raise ParameterError(f"batch entry {number}: params must be a mapping of name: value, got {params!r}")
        entry = BatchEntry(str(item["chapter"]), str(item.get("preset", "course")), params)
        try:
            entry.config()
        except ParameterError as error:
            raise ParameterError(f"batch entry {number}: {error}") from None
        entries.append(entry)
    return entries
