"""Publishing for course use: launch buttons, the GitHub Pages workflow, and the README's instructions."""

import yaml

from reprolib.chapter import ROOT


def load(path):
    return yaml.safe_load((ROOT / path).read_text())


def test_config_has_colab_and_binder_buttons_on_a_repository_the_readme_says_to_change():
    config = load("_config.yml")
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    url = config["repository"]["url"]
    readme = (ROOT / "README.md").read_text()
    assert url.startswith("https://github.com/") and url in readme and "Publishing the book for a course" in readme


def test_pages_workflow_builds_the_course_book_and_deploys_it():
    workflow = load(".github/workflows/book.yml")
    assert {"pages": "write", "id-token": "write"}.items() <= workflow["permissions"].items()
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    steps = {step.get("uses", "").split("@")[0]: step for step in build["steps"]}
    assert steps["actions/setup-python"]["with"]["python-version"] == "3.11"
    assert steps["actions/upload-pages-artifact"]["with"]["path"] == "_build/html"
    assert "actions/checkout" in steps
    assert any(step.get("run") == "./run.sh book" for step in build["steps"])
    branch = load("_config.yml")["repository"]["branch"]
    assert any(f"git push --force origin {branch}" in step.get("run", "") for step in build["steps"])
    assert deploy["needs"] == "build" and deploy["steps"][0]["uses"].startswith("actions/deploy-pages@")
    assert "jupyter-book build . -W" in (ROOT / "run.sh").read_text()  # a warning fails the build
