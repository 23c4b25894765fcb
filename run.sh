#!/usr/bin/env bash
# The project's two commands. Each makes .venv/ (Python 3.11) and installs the project into it when needed.
#   ./run.sh book   executes every chapter at the course preset and builds the book (HTML in _build/html)
#   ./run.sh test   runs the test suite, which also executes every chapter notebook at the smoke preset
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3

stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[test]"
  rm -f .venv/.installed-*; touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"

case "${1:-}" in
  book)
    reprolib run all --preset course
    jupyter-book build . -W --keep-going
    echo "The book is at $PWD/_build/html/index.html"
    ;;
  test)
    ruff check reprolib tests benchmarks examples
    pytest -q
    ;;
  *)
    echo "usage: ./run.sh book | ./run.sh test" >&2
    exit 2
    ;;
esac
