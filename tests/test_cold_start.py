"""Cold start (issue 17): the lookups never import torch, a photo query never imports torchvision
(whose import pulls in ``torch._dynamo``: seconds), and the plain-torch pieces that replace
torchvision on that path are torchvision's exactly."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, run_cli

# Runs recommend.py in a process where importing any of the named packages fails.
BLOCKED_RUN = r"""
import runpy, sys
blocked = set(sys.argv[1].split(","))

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name in blocked or any(name.startswith(b + ".") for b in blocked):
            raise ImportError(f"blocked import of {name} (this path must not need it)")
        return None

sys.meta_path.insert(0, Blocker())
sys.argv = ["recommend.py", *sys.argv[2:]]
runpy.run_path("recommend.py", run_name="__main__")
"""


def run_blocking(blocked: str, args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKED_RUN, blocked, *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def lookup_args(tiny_run, tmp_path_factory) -> list[str]:
    index = tmp_path_factory.mktemp("cold") / "catalog"
    args = ["--checkpoint", str(tiny_run / "best.pt"), "--index-dir", str(index), "--no-progress"]
    first = run_cli(["recommend.py", "--categories", "--json", *args])  # builds the index (with torch)
    assert first.returncode == 0, first.stderr
    return args


def test_lookups_run_without_torch(lookup_args, tiny_run):
    assert (tiny_run / "best.pt.meta.json").is_file()  # written when the model was loaded
    for kind, text in (("--categories", "JACK"), ("--categories", ""), ("--attributes", "shape")):
        with_torch = run_cli(["recommend.py", kind, text, "--json", *lookup_args])
        without = run_blocking("torch,torchvision", [kind, text, "--json", *lookup_args])
        assert without.returncode == 0, without.stderr
        assert json.loads(without.stdout) == json.loads(with_torch.stdout)
    rows = json.loads(without.stdout)["attributes"]
    assert rows and all(r["type"] == "shape" or "shape" in r["name"] for r in rows)


def test_a_stale_sidecar_falls_back_to_the_model(lookup_args, tiny_run, tmp_path):
    import shutil

    checkpoint = tmp_path / "best.pt"
    shutil.copy2(tiny_run / "best.pt", checkpoint)  # no sidecar beside the copy
    args = [a if a != str(tiny_run / "best.pt") else str(checkpoint) for a in lookup_args]
    blocked = run_blocking("torch", ["--categories", "JACK", *args])
    assert blocked.returncode != 0 and "blocked import of torch" in blocked.stderr
    assert run_cli(["recommend.py", "--categories", "JACK", *args]).returncode == 0
    assert run_blocking("torch", ["--categories", "JACK", *args]).returncode == 0  # sidecar now written


def test_a_photo_query_never_imports_torchvision(lookup_args, tiny_sample):
    photo = next((tiny_sample / "img").rglob("*.jpg"))
    result = run_blocking("torchvision,torch._dynamo,scipy.ndimage", [photo, "--json", *lookup_args])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["queries"][0]["results"]


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_resnet_is_torchvisions(arch):
    torchvision = pytest.importorskip("torchvision")
    from fashion.model.resnet import resnet

    torch.manual_seed(0)
    ours = resnet(arch).eval()
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, arch)(weights=None).eval()
    ours_state, their_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(their_state)
    assert all(torch.equal(ours_state[k], their_state[k]) for k in ours_state)  # same init, same order
    images = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        assert torch.equal(ours(images), theirs(images))


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_folding_batchnorm_keeps_the_outputs(arch):
    from fashion.model.resnet import fold_batchnorm, resnet

    torch.manual_seed(0)
    net = resnet(arch)
    for module in net.modules():  # running statistics a trained network would have, not 0 and 1
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    net.eval()
    images = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        expected = net(images)
        folded = fold_batchnorm(net)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
        torch.testing.assert_close(folded(images), expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(resnet(arch).train())


def test_eval_preprocessing_is_torchvisions():
    import numpy as np
    from PIL import Image
    from torchvision.transforms import v2
    from torchvision.transforms.v2 import functional as TF

    from fashion.data.transforms import MEAN, STD, normalise, square_resize

    image = Image.fromarray(np.random.RandomState(0).randint(0, 256, (32, 32, 3), dtype=np.uint8))
    pixels = square_resize(image, 32)
    assert torch.equal(pixels, TF.pil_to_tensor(image))
    reference = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])
    assert torch.equal(normalise()(pixels), reference(pixels))


def test_a_loaded_model_holds_the_checkpoints_weights_exactly(tiny_run):
    """The network is built without initialising weights (the checkpoint's replace them, mapped
    from the file), torch.nn.init is left as it was, and load_model's batch-norm folding keeps
    the unfolded network's outputs."""
    from fashion.model.checkpoint import load_model, model_from_payload, read_checkpoint

    init_functions = {name: getattr(torch.nn.init, name) for name in ("normal_", "kaiming_normal_", "zeros_")}
    path = tiny_run / "best.pt"
    built = model_from_payload(read_checkpoint(path, mmap=True), path).eval()
    loaded = load_model(path, device="cpu")
    assert {name: getattr(torch.nn.init, name) for name in init_functions} == init_functions
    stored = torch.load(path, map_location="cpu", weights_only=True)["model"]
    state = built.state_dict()
    assert state.keys() == stored.keys()
    assert all(torch.equal(state[key], stored[key]) for key in stored)
    assert not loaded.model.training and all(p.requires_grad for p in built.parameters())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in loaded.model.modules())
    images = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        for folded, plain in zip(loaded.model.infer(images), built.infer(images)):
            torch.testing.assert_close(folded, plain, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_the_finiteness_check_sees_nan_and_infinity(bad):
    from fashion.model.checkpoint import _finite

    values = torch.randn(50)
    assert _finite(values) and _finite(values.half())
    values[17] = bad
    assert not _finite(values) and not _finite(values.half())
