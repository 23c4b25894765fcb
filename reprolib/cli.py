"""The ``reprolib`` command line: list chapters, run a chapter's notebook into the book, print its claims."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from .chapter import PRESETS, ROOT, ParameterError
from .chapters import CHAPTERS, get_chapter
from .parts import PARTS
from .store import ResultsStore

BOOK_CHAPTERS = ROOT / "book" / "chapters"


def _parse_params(pairs: list[str]) -> dict:
    params = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise ParameterError(f"-p takes name=value (value in YAML, e.g. eps=[0.1,0.3]), got {pair!r}")
        params[name.strip()] = yaml.safe_load(raw)
    return params


def _chapters(which: str):
    return list(CHAPTERS.values()) if which == "all" else [get_chapter(which)]


def cmd_list(args) -> int:
    for chapter in CHAPTERS.values():
        print(f"{chapter.id:8s} {chapter.title}  [notebooks/{chapter.notebook}]")
    return 0


def execute_notebook(chapter, parameters: dict, output: Path, log_output: bool = True) -> Path:
    """Execute the notebook of a chapter (or of a part's landing page) with papermill, parameters injected,
    into ``output``."""
    import papermill

    output.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(
        str(chapter.notebook_path),
        str(output),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(ROOT),
        log_output=log_output,
        progress_bar=False,
    )
    return output


def cmd_run(args) -> int:
    params = _parse_params(args.param)
    chapters = _chapters(args.chapter)
    for chapter in chapters:  # validate everything before anything trains
        chapter.configure(args.preset, args.device, **params)
    for chapter in chapters:
        output = Path(args.output) if args.output else BOOK_CHAPTERS / chapter.notebook
        print(f"running {chapter.id} at preset {args.preset} on {args.device} → {output}", file=sys.stderr)
        execute_notebook(chapter, {"preset": args.preset, "device": args.device, **params}, output)
    if not args.output:  # the landing pages of the parts just run gather their chapters' verdicts anew
        for part in PARTS.values():
            if any(c.id.startswith(part.prefix) for c in chapters):
                print(f"updating the landing page of {part.title} → {BOOK_CHAPTERS / part.notebook}", file=sys.stderr)
                execute_notebook(part, {"preset": args.preset}, BOOK_CHAPTERS / part.notebook)
    return 0


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

    run = sub.add_parser("run", help="execute a chapter's notebook with papermill into the book")
    chapter_args(run, allow_all=True)
    run.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    run.add_argument("--output", help="where to write the executed notebook (default book/chapters/)")
    run.set_defaults(func=cmd_run)

    claims = sub.add_parser("claims", help="print a chapter's claims table from stored results (trains nothing)")
    chapter_args(claims, allow_all=False)
    claims.add_argument("--json", action="store_true", help="print JSON: a list of {claim, paper, measured, verdict}")
    claims.add_argument("--store", help="results store folder (default $REPROLIB_RESULTS or results/)")
    claims.set_defaults(func=cmd_claims)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ParameterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
