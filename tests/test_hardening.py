"""Hardening (issue 14): literal command-line values, non-finite numbers, damaged files, bad output paths.

Each CLI case runs the real command and asserts a non-zero exit, one clear ``error:`` line and no traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from fashion.config import ConfigError, command_line_overrides, load_config, parse_overrides
from tests.conftest import run_cli


def assert_one_clear_line(result, *needles: str) -> str:
    """A failed command: non-zero exit, no traceback, one ``error:`` line containing every needle."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    for needle in needles:
        assert needle in errors[0], output
    return errors[0]


# ------------------------------------------------------------------ 1. command-line values are literal


@pytest.mark.parametrize("text", ["/data/shop #2", "yes", "no", "1.50", "null", "~", "[a", "{x: 1}", "a: b",
                                  "'quoted'", "&anchor", "*alias", "!!python/object x", "%TAG"])
def test_option_values_are_used_as_typed(text):
    config = load_config(overrides=command_line_overrides([], {"data.root": Path(text), "train.run_name": text}))
    assert config.data.root == text and config.train.run_name == text


@pytest.mark.parametrize("text", ["/data/shop #2", "yes", "0.10", "null", "[a", "a: b", "x # y"])
def test_set_text_settings_take_the_text(text):
    assert parse_overrides([f"data.root={text}"])["data"]["root"] == text


def test_set_quoted_text_and_scalars():
    parsed = parse_overrides(["train.run_name='a b'", "train.lr=1e-3", "data.sample=no", "train.epochs=3"])
    assert parsed == {"train": {"run_name": "a b", "lr": "1e-3", "epochs": 3}, "data": {"sample": False}}
    config = load_config(overrides=["train.lr=1e-3"])
    assert config.train.lr == pytest.approx(0.001)


@pytest.mark.parametrize("value", ["[1,", "{a", "'open", "a: b: c", "@x"])
def test_set_yaml_syntax_error_names_the_key(value):
    with pytest.raises(ConfigError, match="train.lr") as info:
        load_config(overrides=[f"train.lr={value}"])
    assert "\n" not in str(info.value)


def test_train_data_path_with_hash_is_literal(tmp_path):
    missing = tmp_path / "shop #2"
    result = run_cli(["train.py", "--no-progress", "--data", str(missing)])
    assert_one_clear_line(result, "shop #2")
    result = run_cli(["train.py", "--no-progress", "--data", "yes"])
    assert_one_clear_line(result, "yes")


def test_train_set_syntax_error_is_one_line():
    assert_one_clear_line(run_cli(["train.py", "--set", "train.lr=[1,"]), "train.lr")


# ------------------------------------------------------------------ 2. non-finite numbers are refused


@pytest.mark.parametrize("value", ["nan", "NaN", ".nan", "inf", "-inf", ".inf", "-.Inf", "1e999"])
@pytest.mark.parametrize("key", ["train.lr", "recommend.weight_colour", "colour.match_delta_e", "web.max_upload_mb"])
def test_non_finite_numbers_are_refused(key, value):
    with pytest.raises(ConfigError, match=f"{key} must be a finite number"):
        load_config(overrides=[f"{key}={value}"])


def test_non_finite_in_config_file_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: .nan\n")
    with pytest.raises(ConfigError, match="train.lr must be a finite number"):
        load_config(path)


def test_train_cli_refuses_nan():
    assert_one_clear_line(run_cli(["train.py", "--set", "train.lr=nan"]), "train.lr", "finite")


# ------------------------------------------------------------------ 3. damaged config files


DAMAGE = {
    "empty": b"",
    "random bytes": bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8)),
    "undecodable": b"train:\n  lr: \xff\xfe\n",
    "truncated yaml": b"train:\n  lr: [0.1,\n",
    "json list": b"[1, 2, 3]\n",
    "nul bytes": b"\x00" * 64,
}


@pytest.mark.parametrize("kind", [k for k in DAMAGE if k != "empty"])
def test_damaged_config_file_is_one_clear_error(tmp_path, kind):
    path = tmp_path / "config.yaml"
    path.write_bytes(DAMAGE[kind])
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_config_file_odd_keys_and_folder(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("1: 2\n")
    with pytest.raises(ConfigError, match="unknown key 1"):
        load_config(path)
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)


def test_train_cli_damaged_config_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(DAMAGE["random bytes"])
    assert_one_clear_line(run_cli(["train.py", "--config", str(path)]), str(path))
