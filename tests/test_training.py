"""Training end to end: the CLI's run folder, exact resume after an interrupt, checkpoint safety."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from fashion.model.checkpoint import CheckpointError, load_model, read_checkpoint
from fashion.config import ConfigError, load_config
from fashion.train.loop import FashionLoss, attribute_pos_weight, category_class_weight, fit, warmup_cosine
from fashion.data.load import load_training_data

from conftest import TINY_MODEL, TINY_SAMPLE, fitted_weights, overrides_args, run_cli, weights_differ


def test_train_cli_writes_a_complete_run(tiny_run):
    for name in ("config.yaml", "metrics.json", "history.csv", "curves.png", "best.pt", "last.pt"):
        assert (tiny_run / name).is_file(), name
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    test = metrics["test"]
    for key in ("category_top1", "category_top3", "category_top5", "attribute_top3_recall",
                "attribute_top5_recall", "per_class_accuracy", "images"):
        assert key in test, key
    assert 0.0 <= test["category_top1"] <= test["category_top3"] <= test["category_top5"] <= 1.0
    assert test["images"] > 0
    history = pd.read_csv(tiny_run / "history.csv")
    assert list(history["epoch"]) == [1]
    assert {"train_loss", "train_category_acc", "val_category_top1", "lr", "step"} <= set(history.columns)


def test_loaded_model_has_transform_and_labels(tiny_run):
    loaded = load_model(tiny_run / "best.pt", device="cpu")
    assert loaded.labels.category_names and len(loaded.labels.attribute_names) == len(loaded.labels.attribute_types)
    from PIL import Image

    tensor = loaded.transform(Image.new("RGB", (40, 60), (200, 10, 10)))
    embedding, category_logits, attribute_logits = loaded.model.infer(tensor[None])
    assert embedding.shape == (1, loaded.model.embedding_dim)
    assert torch.allclose(embedding.norm(dim=1), torch.ones(1), atol=1e-5)
    assert category_logits.shape == (1, len(loaded.labels.category_names))
    assert attribute_logits.shape == (1, len(loaded.labels.attribute_names))


def test_existing_run_is_not_overwritten_by_accident(tiny_run, tiny_sample):
    result = run_cli(["train.py", "--no-progress", *overrides_args(
        TINY_SAMPLE + TINY_MODEL + [f"data.root={tiny_sample}", f"train.run_dir={tiny_run.parent}",
                                    "train.run_name=tiny"])])
    assert result.returncode == 1
    assert "already holds a run" in result.stderr and "Traceback" not in result.stderr


def test_mismatched_checkpoint_gives_a_message(tiny_run, tiny_sample, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(tiny_run, runs / "tiny")
    result = run_cli(["train.py", "--resume", "--no-progress", *overrides_args(
        TINY_SAMPLE + TINY_MODEL + [f"data.root={tiny_sample}", f"train.run_dir={runs}", "train.run_name=tiny",
                                    "model.arch=resnet34"])])
    assert result.returncode == 1
    assert "holds a resnet18 but the configuration asks for resnet34" in result.stderr
    assert "Traceback" not in result.stderr


def test_foreign_file_is_refused(tmp_path):
    bogus = tmp_path / "x.pt"
    torch.save({"weights": torch.zeros(1)}, bogus)
    with pytest.raises(CheckpointError, match="not a fashion checkpoint"):
        load_model(bogus)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable fashion checkpoint"):
        load_model(tmp_path / "junk.pt")


def _final_weights(run_dir):
    return read_checkpoint(run_dir / "last.pt")["model"]


def test_resume_after_interrupt_continues_exactly(tiny_sample, tmp_path, monkeypatch):
    """Interrupt in the middle of epoch 1, resume: same steps, optimizer state and weights as uninterrupted."""
    base = TINY_SAMPLE + TINY_MODEL + [f"data.root={tiny_sample}", f"train.run_dir={tmp_path}", "train.epochs=2",
                                       "train.batch_size=8", "train.max_train_batches=3"]
    config_a = load_config(overrides=base + ["train.run_name=a"])
    data = load_training_data(config_a)
    fit(config_a, data, show_progress=False)

    config_b = load_config(overrides=base + ["train.run_name=b"])
    calls = {"n": 0}
    original = FashionLoss.forward

    def interrupting_forward(self, *args):
        calls["n"] += 1
        if calls["n"] == 5:  # the 2nd batch of epoch 2: a Ctrl-C in the middle of training
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(FashionLoss, "forward", interrupting_forward)
    result = fit(config_b, data, show_progress=False)
    assert result.interrupted
    saved = read_checkpoint(tmp_path / "b" / "last.pt")["training"]
    assert (saved["epoch"], saved["batch"], saved["global_step"]) == (1, 1, 4)
    monkeypatch.setattr(FashionLoss, "forward", original)

    fit(config_b, data, resume=True, show_progress=False)
    a, b = read_checkpoint(tmp_path / "a" / "last.pt"), read_checkpoint(tmp_path / "b" / "last.pt")
    assert b["training"]["global_step"] == a["training"]["global_step"] == 6
    steps = [s["step"] for s in b["training"]["optimizer"]["state"].values()]
    assert all(float(step) == 6 for step in steps)
    for name, tensor in a["model"].items():
        assert torch.allclose(tensor.float(), b["model"][name].float(), atol=1e-5), name



def test_ctrl_c_while_a_checkpoint_is_written_keeps_the_epoch(tiny_sample, tmp_path, monkeypatch, capsys):
    """A real SIGINT delivered while torch.save writes last.pt (the probe's case: its C++ writer turned
    it into a RuntimeError and the run kept only config.yaml) waits until the epoch's files are whole."""
    import os
    import signal

    config = load_config(overrides=TINY_SAMPLE + TINY_MODEL + [
        f"data.root={tiny_sample}", f"train.run_dir={tmp_path / 'my runs'}", "train.run_name=x", "train.epochs=2",
        "train.batch_size=8", "train.max_train_batches=2"])
    data = load_training_data(config)
    original_save = torch.save

    sent = []

    class CtrlCOnFirstWrite:
        """The file torch.save writes to; the run's first write delivers Ctrl-C to this process (once:
        a broken hold then fails this test instead of stopping pytest)."""

        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            if not sent:
                sent.append(True)
                os.kill(os.getpid(), signal.SIGINT)
            return self.handle.write(data)

        def __getattr__(self, name):
            return getattr(self.handle, name)

    monkeypatch.setattr(torch, "save", lambda obj, handle, *a, **k: original_save(obj, CtrlCOnFirstWrite(handle), *a, **k))
    result = fit(config, data, show_progress=False)
    monkeypatch.setattr(torch, "save", original_save)
    assert result.interrupted
    run = tmp_path / "my runs" / "x"
    assert read_checkpoint(run / "last.pt")["training"]["epoch"] == 1  # epoch 1 is kept whole
    assert read_checkpoint(run / "best.pt")["training"]["epoch"] == 1
    assert len(pd.read_csv(run / "history.csv")) == 1
    assert f"Continue with: python train.py --resume --set train.run_name=x --set 'train.run_dir={tmp_path}/my runs'" \
        in capsys.readouterr().out  # the folder it was given, quoted for the shell
    fit(config, data, resume=True, show_progress=False)
    assert read_checkpoint(run / "last.pt")["training"]["epoch"] == 2

def test_loss_ignores_unknown_attribute_labels():
    loss = FashionLoss(torch.ones(3), attribute_weight=1.0, label_smoothing=0.0)
    category_logits = torch.tensor([[10.0, -10.0]])
    attribute_logits = torch.tensor([[5.0, -5.0, 100.0]])
    known = loss(category_logits, attribute_logits, torch.tensor([0]), torch.tensor([[1, -1, 0]]))
    # The third logit is absurd but its label is unknown (0): it must not contribute.
    assert known.item() < 0.01


def test_pos_weight_from_frequencies_is_capped():
    attributes = np.array([[1, -1, -1], [-1, -1, -1], [-1, -1, 0], [-1, 1, -1]], dtype=np.int8)
    weights = attribute_pos_weight(attributes, cap=2.5)
    # attr0: 3 neg / 1 pos = 3 → capped 2.5; attr1: 3/1 → 2.5; attr2: no positives → cap
    assert weights.tolist() == pytest.approx([2.5, 2.5, 2.5])
    assert attribute_pos_weight(np.array([[1, -1], [1, 1]], dtype=np.int8), cap=10).tolist() == [1.0, 1.0]


def test_category_balance_weights_rare_classes_up_and_keeps_the_loss_size():
    labels = np.array([0] * 8 + [1] * 2 + [-1])  # class 2 never appears; -1 is an unlabelled row
    assert category_class_weight(labels, 3, 0.0) is None  # plain cross-entropy
    inverse = category_class_weight(labels, 3, 1.0)
    # Inverse frequency: each class carries the same total weight; the mean per image stays 1.
    assert inverse[1] / inverse[0] == pytest.approx(4.0)
    assert float((inverse[0] * 8 + inverse[1] * 2) / 10) == pytest.approx(1.0)
    assert inverse[2] == 1.0
    root = category_class_weight(labels, 3, 0.5)
    assert root[1] / root[0] == pytest.approx(2.0)

    # In the loss: a mistake on the rare class costs more than the same mistake on the common one.
    loss = FashionLoss(torch.ones(0), attribute_weight=0.0, label_smoothing=0.0, category_weight=inverse)
    wrong = torch.tensor([[0.0, 0.0, 5.0]])
    none = torch.zeros(1, 0)
    assert loss(wrong, none, torch.tensor([1]), none).item() == pytest.approx(
        loss(wrong, none, torch.tensor([0]), none).item())  # one image: the weighted mean is its own loss
    batch = loss(wrong.repeat(2, 1), torch.zeros(2, 0), torch.tensor([0, 1]), torch.zeros(2, 0))
    plain = FashionLoss(torch.ones(0), attribute_weight=0.0, label_smoothing=0.0)
    assert batch.item() == pytest.approx(plain(wrong.repeat(2, 1), torch.zeros(2, 0), torch.tensor([0, 1]),
                                               torch.zeros(2, 0)).item())  # equal losses: any weights agree
    right_rare = torch.tensor([[0.0, 5.0, 0.0], [0.0, 5.0, 0.0]])  # class 0 wrong, class 1 right
    weighted = loss(right_rare, torch.zeros(2, 0), torch.tensor([0, 1]), torch.zeros(2, 0)).item()
    unweighted = plain(right_rare, torch.zeros(2, 0), torch.tensor([0, 1]), torch.zeros(2, 0)).item()
    assert weighted < unweighted  # the rare class's (right) term counts 4x: the mean moves toward it


def test_training_with_category_balance_differs_from_plain(tiny_sample, tmp_path):
    """The setting reaches the loss in a real fit (same seed, same batches: only the weights differ)."""
    plain = fitted_weights(tiny_sample, tmp_path, "plain", ["train.category_balance=0"])
    balanced = fitted_weights(tiny_sample, tmp_path, "balanced", ["train.category_balance=1"])
    assert weights_differ(plain, balanced)
    with pytest.raises(ConfigError, match="category_balance"):
        load_config(overrides=["train.category_balance=nan"])


def test_warmup_then_cosine():
    factor = warmup_cosine(total_steps=10, warmup_steps=2)
    assert factor(0) == pytest.approx(0.5) and factor(1) == pytest.approx(1.0)
    assert factor(2) == pytest.approx(1.0) and factor(10) == pytest.approx(0.0)
    assert factor(6) == pytest.approx(0.5)


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun test uses fork-based gloo on Linux")
def test_torchrun_two_cpu_processes(tiny_sample, tmp_path):
    result = run_cli(["-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533", "train.py",
                      "--no-progress", *overrides_args(TINY_SAMPLE + TINY_MODEL + [
                          f"data.root={tiny_sample}", f"train.run_dir={tmp_path}", "train.run_name=ddp",
                          "train.max_train_batches=2"])], timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    saved = read_checkpoint(tmp_path / "ddp" / "last.pt")
    # Each of the 2 ranks took 2 steps on its own shard; the step count is per optimizer, not per rank.
    assert saved["training"]["global_step"] == 2
    assert (tmp_path / "ddp" / "metrics.json").is_file()


def test_streaming_from_disk_trains_exactly_like_the_memory_cache(tiny_sample, tmp_path):
    """data.cache_mb=0 decodes in DataLoader workers every epoch; the weights must not notice.

    Workers take their seeds from the loader's private generator and augmentation runs on the
    batch in the main process, so both paths draw the same random numbers in the same order.
    """
    base = TINY_SAMPLE + TINY_MODEL + [f"data.root={tiny_sample}", f"train.run_dir={tmp_path}",
                                       "train.batch_size=8", "train.max_train_batches=2"]
    cached = load_config(overrides=base + ["train.run_name=cached"])
    streamed = load_config(overrides=base + ["train.run_name=streamed", "data.cache_mb=0", "train.workers=1"])
    data = load_training_data(cached)
    fit(cached, data, show_progress=False)
    fit(streamed, data, show_progress=False)
    a, b = read_checkpoint(tmp_path / "cached" / "last.pt"), read_checkpoint(tmp_path / "streamed" / "last.pt")
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name


def test_a_checkpoint_that_lacks_a_weight_names_it(tiny_run, tmp_path):
    """The message ended at torch's header line ('Error(s) in loading state_dict for FashionNet:')."""
    from fashion.model.checkpoint import save_checkpoint

    payload = read_checkpoint(tiny_run / "best.pt")
    missing = next(iter(payload["model"]))
    del payload["model"][missing]
    save_checkpoint(tmp_path / "lacking.pt", payload)
    with pytest.raises(CheckpointError, match=f'Missing key.*"{missing}"'):
        load_model(tmp_path / "lacking.pt", device="cpu")
