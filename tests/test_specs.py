"""Typed specs: every field in the key, versions in the key, one-line validation, a round trip through JSON."""

import json

import pytest

from reprolib.chapters import get_chapter
from reprolib.cli import main
from reprolib.models import MLP, ResNetCifar, parse_model
from reprolib.papers.hall.tasks import InversionTask
from reprolib.specs import METHODS, MODELS, TASKS, SpecError
from reprolib.sweep import RunSpec
from reprolib.training import TRAINER_VERSION, Recipe


def _spec(**task):
    return RunSpec(InversionTask(**task), ResNetCifar(depth=8), Recipe(epochs=1), seed=0)


def test_a_spec_writes_every_field_with_its_name_and_version():
    assert InversionTask().to_dict() == {
        "name": "inversion",
        "version": InversionTask.version,
        "dataset": "digits",
        "eps": 0.0,
        "seed": 0,
        "swap_roles": False,
        "train_fraction": 1.0,
        "ambiguous": 0.0,
        "validation_fraction": 0.0,
    }
    assert _spec().config()["trainer"] == TRAINER_VERSION


def test_the_key_changes_with_a_default_or_a_version(monkeypatch):
    before = _spec().key
    assert _spec(train_fraction=1.0).key == before  # spelling a default out changes nothing
    monkeypatch.setattr(InversionTask, "version", InversionTask.version + 1)
    assert _spec().key != before
    monkeypatch.undo()
    monkeypatch.setattr(InversionTask.__dataclass_fields__["train_fraction"], "default", 0.5)
    monkeypatch.setattr(InversionTask.__init__, "__defaults__", ("digits", 0.0, 0, False, 0.5, 0.0, 0.0))
    assert InversionTask().train_fraction == 0.5 and _spec().key != before


@pytest.mark.parametrize("registry", [TASKS, MODELS, METHODS], ids=["task", "model", "method"])
def test_every_registered_spec_survives_json_with_its_key(registry):
    get_chapter("K-T4")  # loads the papers
    for name in registry:
        spec = registry.get(name)()
        again = type(spec).from_dict(json.loads(json.dumps(spec.to_dict())))
        assert again == spec and again.to_dict() == spec.to_dict()


def test_a_run_spec_survives_json_with_its_key():
    spec = RunSpec(InversionTask(eps=0.3), MLP(hidden=8), Recipe(epochs=2, lr_drops=(0.5,)), 3, curves=True)
    again = RunSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec and again.key == spec.key and again.recipe.lr_drops == (0.5,)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: InversionTask(eps=0.7), "eps must be a number in [0, 0.5], got 0.7"),
        (lambda: InversionTask(dataset="imagenet"), "dataset must be one of digits, "),
        (lambda: ResNetCifar(depth=9), "depth must be 6n+2 between 8 and 110 (8, 14, 20, …, 110), got 9"),
        (lambda: Recipe(optimizer="adam", betas=(0.9, 1.5)), "betas must be two numbers in [0, 1), got (0.9, 1.5)"),
        (lambda: parse_model("resnet9"), "model 'resnet9': depth must be 6n+2"),
    ],
)
def test_a_bad_field_is_one_line_naming_it_and_its_range(make, message):
    with pytest.raises(SpecError) as error:
        make()
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_folder_that_does_not_exist_is_refused_before_anything_trains(store_dir, capsys):
    assert main(["run", "K-T3", "--preset", "smoke", "-p", "celeba_root=/nonexistent"]) == 2
    assert capsys.readouterr().err.strip() == "error: celeba_root must be an existing folder, got '/nonexistent'"
    assert not store_dir.exists()


def test_a_folder_given_for_data_the_preset_does_not_read_is_refused(store_dir, tmp_path, capsys):
    assert main(["run", "K-T3", "--preset", "smoke", "-p", f"celeba_root={tmp_path}"]) == 2
    assert "celeba_root is read only with dataset=celeba (this configuration uses digits)" in capsys.readouterr().err
