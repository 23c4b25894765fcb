"""The ``reprolib`` command line: list chapters, train them (here, on submitit's local executor, or on Slurm), run
their notebooks into the book, show the state of their runs, run parameter batches, rebuild the book, print
claims."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import yaml
from papermill.exceptions import PapermillExecutionError

from . import book
from .batch import entries_in_book, read_batch, yaml_problem
from .book import execute_notebook
from .chapter import PRESETS, ROOT, ParameterError, ResultsMissing
from .chapters import CHAPTERS, get_chapter
from .launch import LAUNCHERS, Launch, launch
from .papers import PaperUnavailable
from .parts import parts
from .stability import SECOND_FIRST_RUN, seed_sets
from .store import STATES, ResultsStore
from .sweep import stale_keys

__all__ = ["main", "build_parser", "execute_notebook"]


def _parse_params(pairs: list[str]) -> dict:
    params = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParameterError(f"-p takes name=value (value in YAML, e.g. eps=[0.1,0.3]), got {pair!r}")
        try:
            params[name] = yaml.safe_load(raw)
        except yaml.YAMLError as error:
            raise ParameterError(f"-p {name}: not valid YAML ({yaml_problem(error)})") from None
    return params


def _chapters(which: str):
    return list(CHAPTERS.values()) if which == "all" else [get_chapter(which)]


def cmd_list(args) -> int:
    for chapter in CHAPTERS.values():
        path = chapter.notebook_path
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"{chapter.id:8s} {chapter.title}  [{shown}]")
    return 0


def _launch_options(args) -> Launch:
    return Launch(
        launcher=args.launcher,
        partition=args.partition,
        gpus=args.gpus,
        time_min=args.time,
        array_parallelism=args.array_parallelism,
        cpus_per_job=args.cpus,
        group_size=args.group_size,
        wait=not args.no_wait,
        log_dir=args.log_dir,
    )


def _not_waiting(options: Launch, command: str) -> int:
    print(
        f"jobs submitted ({options.launcher}); follow them with `reprolib status`, then `{command}` renders the "
        "pages from the stored results",
        file=sys.stderr,
    )
    return 0


def _device_here(device: str, options: Launch) -> str:
    """The device this process configures and renders with: Slurm jobs, not the login node, need the GPU."""
    return "cpu" if options.launcher == "slurm" and device.startswith("cuda") else device


def _page_output(output: str | None, chapter) -> Path:
    """Where ``run`` writes a chapter's executed notebook: ``--output`` itself when it names an ``.ipynb`` file,
    else the folder ``--output`` (or ``book/chapters/``) with the page's own file name."""
    if not output:
        return book.page_path(chapter)
    path = Path(output)
    return path if path.suffix == ".ipynb" else path / book.page_path(chapter).name


def cmd_run(args) -> int:
    if args.output and Path(args.output).suffix == ".ipynb" and args.chapter == "all":
        raise ParameterError("--output takes a single chapter, not all")
    params = _parse_params(args.param)
    chapters = _chapters(args.chapter)
    options = _launch_options(args)
    here = _device_here(args.device, options)
    configs = [chapter.configure(args.preset, here, **params) for chapter in chapters]  # validate all first
    if options.launcher != "local":
        specs = [spec for chapter, config in zip(chapters, configs, strict=True) for spec in chapter.specs(config)]
        launch(specs, ResultsStore(), args.device, options, force=args.force)
        if not options.wait:
            return _not_waiting(options, f"reprolib run {args.chapter} --preset {args.preset}")
    failures = []
    for chapter, config in zip(chapters, configs, strict=True):
        output = _page_output(args.output, chapter)
        parameters = {"preset": args.preset, "device": here, **params}
        print(f"running {chapter.id} at preset {args.preset} on {args.device} → {output}", file=sys.stderr)
        if options.launcher == "local":
            chapter.run(config, force=args.force)  # trains in this process (progress on the terminal)
            failed = chapter.failure_message(config)
            if failed:  # no page from no results; the other chapters go on, the failures are reported at the end
                failures.append(failed)
                continue
            try:
                with book.results_only():  # the notebook reads what was just trained and trains nothing
                    book.add_colab_setup(execute_notebook(chapter, parameters, output))
            except PapermillExecutionError as error:  # e.g. K-SUM with a chapter that has no results
                failures.append(f"the notebook of {chapter.id} failed with {error.ename}: {error.evalue} (in {output})")
        else:
            _report(book.render(chapter, parameters, output))
    if not args.output:  # the landing pages of the parts just run gather their chapters' verdicts anew
        for part in parts().values():
            if any(c.id.startswith(part.prefix) for c in chapters):
                output = book.page_path(part)
                print(f"updating the landing page of {part.title} → {output}", file=sys.stderr)
                execute_notebook(part, {"preset": args.preset}, output)
    for failed in failures:
        print(f"error: {failed}", file=sys.stderr)
    return 1 if failures else 0


def _report(message: str) -> None:
    if message:
        print(message, file=sys.stderr)


def cmd_sweep(args) -> int:
    params = _parse_params(args.param)
    chapters = _chapters(args.chapter)
    options = _launch_options(args)
    here = _device_here(args.device, options)
    configs = [chapter.configure(args.preset, here, **params) for chapter in chapters]
    specs = [spec for chapter, config in zip(chapters, configs, strict=True) for spec in chapter.specs(config)]
    launch(specs, ResultsStore(), args.device, options, force=args.force)
    if not options.wait:
        return _not_waiting(options, f"reprolib run {args.chapter} --preset {args.preset} --launcher {args.launcher}")
    print(_status_table(chapters, [args.preset], params).to_string(index=False))
    return 0


def _specs_by_preset(chapters, presets, params: dict) -> list[tuple[str, str, list]]:
    """(chapter id, preset, its run specs) for every chapter and preset (all its presets if none)."""
    return [
        (chapter.id, preset, chapter.specs(chapter.configure(preset, "cpu", **params)))
        for chapter in chapters
        for preset in presets or chapter.presets
    ]


def _keys_by_preset(chapters, presets, params: dict) -> list[tuple[str, str, set[str]]]:
    return [(cid, preset, {s.key for s in specs}) for cid, preset, specs in _specs_by_preset(chapters, presets, params)]


def _status_table(chapters, presets, params: dict) -> pd.DataFrame:
    """Runs per state, and ``stale``: stored records of the same runs made by an older version of a component
    (never served; ``reprolib run`` trains the current version)."""
    store = ResultsStore()
    rows = []
    for chapter_id, preset, specs in _specs_by_preset(chapters, presets, params):
        states = [store.state(key) for key in {s.key for s in specs}]
        stale = len(stale_keys(specs, store))
        rows.append({"chapter": chapter_id, "preset": preset, **{s: states.count(s) for s in STATES}, "stale": stale})
    return pd.DataFrame(rows, columns=["chapter", "preset", *STATES, "stale"])


def cmd_status(args) -> int:
    chapters = _chapters(args.chapter or "all")
    params = _parse_params(args.param)
    presets = [args.preset] if args.preset else None
    print(_status_table(chapters, presets, params).to_string(index=False))
    if args.errors:
        store = ResultsStore()
        keys = sorted(set().union(*(keys for _, _, keys in _keys_by_preset(chapters, presets, params))))
        for key in keys:
            if store.state(key) == "failed":
                print(f"{key}: {store.get(key)['error']}")
    return 0


def cmd_batch(args) -> int:
    entries = read_batch(args.file)
    options = _launch_options(args)
    here = _device_here(args.device, options)
    specs = [spec for entry in entries for spec in entry.specs(here)]
    launch(specs, ResultsStore(), args.device, options)
    if not options.wait:
        return _not_waiting(options, "reprolib book")
    for entry in entries:
        print(f"rendering {entry.chapter} at {entry.describe()} → {entry.output()}", file=sys.stderr)
        _report(entry.render(here))
    return 0


def cmd_book(args) -> int:
    """Render every chapter (at ``--preset``) and every batch page from stored results, then build the book."""
    for chapter in CHAPTERS.values():
        output = book.page_path(chapter)
        print(f"rendering {chapter.id} at preset {args.preset} from stored results → {output}", file=sys.stderr)
        _report(book.render(chapter, {"preset": args.preset}, output))
    for part in parts().values():  # landing pages read stored results only
        output = book.page_path(part)
        print(f"rendering the landing page of {part.title} → {output}", file=sys.stderr)
        with book.results_only():  # a chapter's results may compute artifacts (W-F4's attackers): not here
            execute_notebook(part, {"preset": args.preset}, output, log_output=False)
    for entry in entries_in_book():
        print(f"rendering {entry.chapter} at {entry.describe()} → {entry.output()}", file=sys.stderr)
        _report(entry.render())
    return 0 if args.no_build else book.build()


def cmd_claims(args) -> int:
    chapter = get_chapter(args.chapter)
    config = chapter.configure(args.preset, "cpu", **_parse_params(args.param))
    store = ResultsStore(args.store) if args.store else ResultsStore()
    results = chapter.results(config, store)
    if results.empty:
        print(
            f"error: no stored results for {chapter.id} at preset {args.preset} in {store.root}; "
            f"run `reprolib run {chapter.id} --preset {args.preset}` first",
            file=sys.stderr,
        )
        return 1
    table = chapter.claims(results, config)
    if args.json:
        print(json.dumps(table.to_dict(orient="records"), indent=2, ensure_ascii=False))
    else:
        print(table.to_string(index=False))
    return 0


def cmd_stability(args) -> int:
    """A chapter's claims on two disjoint seed sets, side by side; exit 1 when a verdict flips."""
    chapter = get_chapter(args.chapter)
    if "first_run" not in chapter.parameter_names():
        print(f"error: {chapter.id} has no runs to draw a second seed set from", file=sys.stderr)
        return 2
    config = chapter.configure(args.preset, "cpu", **_parse_params(args.param))
    store = ResultsStore(args.store) if args.store else ResultsStore()
    try:
        table = seed_sets(chapter, config, args.second_first_run, store)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(table.to_dict(orient="records"), indent=2, ensure_ascii=False))
    else:
        print(table.to_string(index=False))
    return 1 if (table["agreement"] == "flip").any() else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reprolib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="chapters and their catalogue ids").set_defaults(func=cmd_list)

    def chapter_args(p, allow_all: bool):
        p.add_argument("chapter", help="catalogue id (see `reprolib list`)" + (", or all" if allow_all else ""))
        p.add_argument("--preset", default="course", help=f"one of {', '.join(PRESETS)} (default course)")
        p.add_argument(
            "-p",
            "--param",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="override a notebook parameter; VALUE is YAML, e.g. -p eps=[0.1,0.3]",
        )

    def launch_args(p):
        p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
        group = p.add_argument_group("where the runs train")
        group.add_argument(
            "--launcher",
            default="local",
            help=f"one of {', '.join(LAUNCHERS)}: in this process (default), submitit jobs on this machine, Slurm jobs",
        )
        group.add_argument("--partition", help="Slurm partition")
        group.add_argument("--gpus", type=int, help="GPUs per job (default 1 with --device cuda, else 0)")
        group.add_argument("--time", type=int, default=60, help="time limit of one job, minutes (default 60)")
        group.add_argument(
            "--array-parallelism", type=int, default=8, help="jobs running at once (Slurm array %%N; default 8)"
        )
        group.add_argument("--cpus", type=int, help="CPUs per job (Slurm cpus-per-task, torch threads)")
        group.add_argument("--group-size", type=int, help="runs per job (default: one compatible group, ≤ 8 on CPU)")
        group.add_argument(
            "--no-wait", action="store_true", help="submit the jobs and return (submitit-local: all start at once)"
        )
        group.add_argument("--log-dir", help="submitit's shared log folder (default <results>/submitit)")

    run = sub.add_parser("run", help="train a chapter and execute its notebook with papermill into the book")
    chapter_args(run, allow_all=True)
    launch_args(run)
    run.add_argument("--force", action="store_true", help="train every run again, even those already stored")
    run.add_argument(
        "--output", help="an .ipynb file, or a folder that gets the page's own name (default book/chapters/)"
    )
    run.set_defaults(func=cmd_run)

    sweep = sub.add_parser("sweep", help="train a chapter's runs into the results store (no notebook)")
    chapter_args(sweep, allow_all=True)
    launch_args(sweep)
    sweep.add_argument("--force", action="store_true", help="train every run again, even those already stored")
    sweep.set_defaults(func=cmd_sweep)

    status = sub.add_parser("status", help="done / failed / running / pending runs per chapter and preset")
    status.add_argument("chapter", nargs="?", help="catalogue id (default: every chapter)")
    status.add_argument("--preset", help="one preset (default: every preset)")
    status.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="as for run")
    status.add_argument("--errors", action="store_true", help="also print the error of every failed run")
    status.set_defaults(func=cmd_status)

    batch = sub.add_parser("batch", help="run a YAML file of parameter sets; one book page per entry")
    batch.add_argument("file", help="YAML list of {chapter, preset, params} entries")
    launch_args(batch)
    batch.set_defaults(func=cmd_batch)

    book_parser = sub.add_parser("book", help="render every page from stored results (trains nothing), build")
    book_parser.add_argument("--preset", default="course", help="the chapters' preset (default course)")
    book_parser.add_argument("--no-build", action="store_true", help="render the pages, skip jupyter-book build")
    book_parser.set_defaults(func=cmd_book)

    claims = sub.add_parser("claims", help="print a chapter's claims table from stored results (trains nothing)")
    chapter_args(claims, allow_all=False)
    claims.add_argument("--json", action="store_true", help="print JSON: a list of {claim, paper, measured, verdict}")
    claims.add_argument("--store", help="results store folder (default $REPROLIB_RESULTS or results/)")
    claims.set_defaults(func=cmd_claims)

    stability = sub.add_parser(
        "stability", help="a chapter's claims on two disjoint seed sets, side by side (trains nothing)"
    )
    chapter_args(stability, allow_all=False)
    stability.add_argument(
        "--second-first-run",
        type=int,
        default=SECOND_FIRST_RUN,
        help=f"first run of the second seed set (default {SECOND_FIRST_RUN}); train it with -p first_run=N",
    )
    stability.add_argument("--json", action="store_true", help="print JSON, one record per claim")
    stability.add_argument("--store", help="results store folder (default $REPROLIB_RESULTS or results/)")
    stability.set_defaults(func=cmd_stability)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ParameterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ResultsMissing as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except PaperUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
