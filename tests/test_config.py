"""Configuration: defaults, overrides, and error messages that name the dotted key."""

from pathlib import Path

import pytest
import yaml

from fashion.config import ConfigError, config_from_dict, load_config, parse_overrides, save_config


def test_shipped_yaml_loads_and_matches_dataclass_defaults():
    config = load_config()
    assert config.train.epochs >= 1
    assert config.model.arch in {"resnet18", "resnet34", "resnet50"}
    shipped = yaml.safe_load(Path("hyper_parameters.yaml").read_text())
    # Every key of the shipped file is a real setting (the loader would have failed otherwise)
    assert set(shipped) == set(config.to_dict())


def test_overrides_are_typed():
    config = load_config(overrides=["train.epochs=3", "train.lr=1e-4", "data.use_bbox=false", "model.arch=resnet34"])
    assert config.train.epochs == 3 and isinstance(config.train.epochs, int)
    assert config.train.lr == pytest.approx(1e-4)
    assert config.data.use_bbox is False
    assert config.model.arch == "resnet34"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["train.epoch=3"], "unknown key train.epoch; did you mean train.epochs?"),
        (["trian.epochs=3"], "unknown key trian; did you mean train?"),
        (["train.epochs=three"], "train.epochs must be int"),
        (["train.epochs=0"], "train.epochs must be >= 1"),
        (["model.arch=vgg16"], "model.arch must be one of resnet18, resnet34, resnet50"),
        (["data.use_bbox=maybe"], "data.use_bbox must be bool"),
        (["train.best_metric=val_top1"], "train.best_metric must be one of category_top1"),
        (["train.epochs"], "must look like section.key=value"),
        (["epochs=3"], "must look like section.key"),
    ],
)
def test_bad_values_name_the_key(overrides, message):
    with pytest.raises(ConfigError) as error:
        load_config(overrides=overrides)
    assert message in str(error.value)


def test_unknown_key_in_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochz: 3\n")
    with pytest.raises(ConfigError, match="unknown key train.epochz; did you mean train.epochs"):
        load_config(path)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_save_round_trip(tmp_path):
    config = load_config(overrides=["train.epochs=2"])
    save_config(config, tmp_path / "config.yaml")
    assert config_from_dict(yaml.safe_load((tmp_path / "config.yaml").read_text())) == config


def test_parse_overrides_parses_yaml_scalars():
    assert parse_overrides(["a.b=1", "a.c=x", "d.e=true"]) == {"a": {"b": 1, "c": "x"}, "d": {"e": True}}


def test_hyper_parameters_ship_inside_the_package(tmp_path):
    """A non-editable install (``pip install .``) must find its defaults: the wheel carries the
    same hyper_parameters.yaml as the repository's top level."""
    import subprocess
    import sys
    import zipfile

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                             "-w", str(tmp_path), str(root)], capture_output=True, text=True, timeout=300)
    if result.returncode != 0 and "setuptools" in result.stderr:
        pytest.skip("setuptools is not installed in this environment")
    assert result.returncode == 0, result.stderr
    [wheel] = tmp_path.glob("fashion-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("fashion/hyper_parameters.yaml")
        family_model = archive.read("fashion/colour/family_model.json")  # colour words' default model
        family_net = archive.read("fashion/colour/family_net.pt")  # ... and network (catalog builds)
    assert shipped == (root / "hyper_parameters.yaml").read_bytes()
    assert family_model == (root / "fashion" / "colour" / "family_model.json").read_bytes()
    assert family_net == (root / "fashion" / "colour" / "family_net.pt").read_bytes()
