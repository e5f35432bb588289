"""Time-budgeted training: the shared epoch planner, the config key, and fit() sizing its epochs."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import TINY_MODEL, TINY_SAMPLE
from fashion.config import ConfigError, load_config
from fashion.data.load import load_training_data
from fashion.model.checkpoint import read_checkpoint
from fashion.train import loop
from fashion.train.budget import LOOP_OVERHEAD, MAX_EPOCHS, MIN_EPOCHS, epoch_seconds, plan_epochs


@pytest.mark.parametrize("speed, seconds, expected", [
    (20.0, 360.0, 3),     # the demo at 20 img/s: 1,600 + 200/3 images an epoch, 1.15 x 83.3 s = 95.8 s
    (98.0, 360.0, 18),    # the fastest machine seen: 19.6 s an epoch
    (1.0, 360.0, MIN_EPOCHS),  # a budget that fits less than one epoch still trains one
    (1e9, 360.0, MAX_EPOCHS),
])
def test_plan_epochs_fits_the_budget(speed, seconds, expected):
    plan = plan_epochs(speed, 1600, 200, seconds)
    assert plan.epochs == expected
    assert math.isclose(plan.expected_train_seconds, expected * epoch_seconds(speed, 1600, 200, 1.15))
    if MIN_EPOCHS < expected < MAX_EPOCHS:
        assert plan.expected_train_seconds <= seconds < plan.expected_train_seconds + epoch_seconds(speed, 1600, 200, 1.15)
    assert f"chose {expected} epoch" in plan.summary() and f"{speed:.1f} training images/s" in plan.summary()


def test_plan_epochs_takes_fixed_costs_off_the_budget():
    per_epoch = epoch_seconds(10.0, 100, 30, 1.0)  # 11 s
    assert plan_epochs(10.0, 100, 30, 56.0, overhead=1.0).epochs == 5
    assert plan_epochs(10.0, 100, 30, 56.0, overhead=1.0, fixed_seconds=2 * per_epoch).epochs == 3


@pytest.mark.parametrize("seconds", [0.0, -5.0, math.inf, math.nan])
def test_plan_epochs_refuses_a_budget_that_is_not_finite_and_positive(seconds):
    with pytest.raises(ValueError, match="finite number of seconds > 0"):
        plan_epochs(20.0, 100, 10, seconds)


@pytest.mark.parametrize("text, message", [
    ("0", "train.time_budget_min must be > 0"), ("-3", "train.time_budget_min must be > 0"),
    (".inf", "train.time_budget_min must be a finite number"), ("nan", "train.time_budget_min must be"),
    ("soon", "train.time_budget_min must be float"),
])
def test_config_refuses_a_bad_time_budget(text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[f"train.time_budget_min={text}"])


def test_config_time_budget_is_off_by_default_and_takes_minutes():
    assert load_config().train.time_budget_min is None
    assert load_config(overrides=["train.time_budget_min=6"]).train.time_budget_min == 6.0
    assert load_config(overrides=["train.time_budget_min=null"]).train.time_budget_min is None


def _base(tiny_sample, tmp_path) -> list[str]:
    return TINY_SAMPLE + TINY_MODEL + [f"data.root={tiny_sample}", f"train.run_dir={tmp_path}",
                                       "train.batch_size=8", "train.max_train_batches=2"]


def test_a_tiny_budget_trains_the_minimum_exactly_like_fixed_epochs(tiny_sample, tmp_path, capsys):
    """The speed is measured on real steps, then everything is put back: same weights as train.epochs=1."""
    base = _base(tiny_sample, tmp_path)
    budgeted = load_config(overrides=base + ["train.run_name=budget", "train.epochs=7", "train.time_budget_min=0.0001"])
    data = load_training_data(budgeted)
    result = loop.fit(budgeted, data, show_progress=False)
    out = capsys.readouterr().out
    assert "time budget 0.0001 min: measured" in out and "chose 1 epoch of 16 images" in out
    assert result.metrics["epochs"] == 1 and result.metrics["time_budget"]["epochs"] == 1
    assert result.metrics["time_budget"]["images_per_second"] > 0
    assert "epochs: 1" in (tmp_path / "budget" / "config.yaml").read_text()

    fixed = load_config(overrides=base + ["train.run_name=fixed", "train.epochs=1"])
    loop.fit(fixed, data, show_progress=False)
    a, b = read_checkpoint(tmp_path / "budget" / "last.pt"), read_checkpoint(tmp_path / "fixed" / "last.pt")
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name


def test_a_resumed_budgeted_run_keeps_its_chosen_epochs(tiny_sample, tmp_path, monkeypatch):
    base = _base(tiny_sample, tmp_path)
    speed = 1.0  # images/s: a budget of 2.5 epochs (plus the test pass) plans 2
    config = load_config(overrides=base + ["train.run_name=b", "train.epochs=9"])
    data = load_training_data(config)
    splits = loop.build_splits(data, config, 0, False)
    per_epoch = epoch_seconds(speed, min(len(splits.train), 16), len(splits.val), LOOP_OVERHEAD)
    test_seconds = LOOP_OVERHEAD * (len(splits.test) or len(splits.val)) / 3 / speed
    minutes = (2.5 * per_epoch + test_seconds) / 60
    config = load_config(overrides=base + ["train.run_name=b", "train.epochs=9", f"train.time_budget_min={minutes}"])
    monkeypatch.setattr(loop, "measure_training_speed", lambda *args, **kwargs: speed)

    calls = {"n": 0}
    original = loop.FashionLoss.forward

    def interrupting_forward(self, *args):
        calls["n"] += 1
        if calls["n"] == 3:  # the 1st batch of epoch 2
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(loop.FashionLoss, "forward", interrupting_forward)
    assert loop.fit(config, data, show_progress=False).interrupted
    monkeypatch.setattr(loop.FashionLoss, "forward", original)

    def not_again(*args, **kwargs):
        raise AssertionError("a resumed run must not measure and re-plan")

    monkeypatch.setattr(loop, "measure_training_speed", not_again)
    resumed = loop.resolve_resume_config(tmp_path / "b", {})
    assert resumed.train.epochs == 2 and resumed.train.time_budget_min == pytest.approx(minutes)
    result = loop.fit(resumed, data, resume=True, show_progress=False)
    assert result.metrics["epochs"] == 2 and result.metrics["global_step"] == 4
    assert result.metrics["time_budget"]["epochs"] == 2
