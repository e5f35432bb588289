"""Checkpoints that hold everything needed to use a model later.

A checkpoint is a plain dict of tensors, numbers, strings and lists (nanoGPT's ``model_args``
idea), so it loads with ``torch.load(..., weights_only=True)``: no pickled code runs.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from fashion.errors import FashionError
from fashion.config import Config, ConfigError, config_from_dict
from fashion.io_utils import atomic_write, file_checksum
from fashion.model.labels import Labels
from fashion.model.network import FashionNet
from fashion.model.resnet import fold_batchnorm
from fashion.data.transforms import MEAN, STD, Transform, eval_transform

FORMAT = "fashion-checkpoint/1"


class CheckpointError(FashionError, ValueError):
    """A checkpoint is missing, unreadable, or does not fit what it is used with."""


@dataclass
class LoadedModel:
    """A model ready for inference, with its eval transform and label names (CLIP's ``load``)."""

    model: FashionNet
    transform: Transform
    labels: Labels
    config: Config
    checksum: str
    device: torch.device
    metrics: dict[str, Any]


# What --device / train.device accept besides "auto" (torch knows many more kinds, none of them usable here).
DEVICE_KINDS = ("cpu", "cuda", "mps")


def mps_available() -> bool:
    """Whether this torch build has Apple's GPU backend (MPS) and the machine has the GPU."""
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def pick_device(preference: str = "auto") -> torch.device:
    """cuda > mps > cpu for ``auto``; otherwise the named device (checked to exist)."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind, _, number = preference.partition(":")
    if kind not in DEVICE_KINDS or (number and (kind != "cuda" or not number.isdigit())):
        raise CheckpointError(f"device must be one of auto, {', '.join(DEVICE_KINDS)} (or cuda:N); got {preference!r}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise CheckpointError(f"device {preference} asked for, but no CUDA device is available")
    if kind == "cuda" and number and int(number) >= torch.cuda.device_count():
        raise CheckpointError(f"device {preference} asked for, but there are {torch.cuda.device_count()} CUDA devices")
    if kind == "mps" and not mps_available():
        raise CheckpointError("device mps asked for, but no Apple GPU (MPS) is available")
    return torch.device(preference)


def build_payload(
    model: FashionNet, config: Config, labels: Labels, training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The checkpoint dict: weights, resolved config, labels, model args, transform settings."""
    raw_model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    return {
        "format": FORMAT,
        "model": {k: v.detach().cpu() for k, v in raw_model.state_dict().items()},
        "model_args": {
            "arch": config.model.arch,
            "num_categories": len(labels.category_names),
            "num_attributes": len(labels.attribute_names),
            "dropout": config.model.dropout,
            "embedding": raw_model.embedding_kind,
            "embedding_dim": raw_model.embedding_dim,
            "metric_proxies": 0 if raw_model.proxies is None else int(raw_model.proxies.shape[0]),
        },
        "transform": {"image_size": config.model.image_size, "mean": list(MEAN), "std": list(STD)},
        "config": config.to_dict(),
        "labels": labels.to_dict(),
        "training": training or {},
        "metrics": metrics or {},
    }


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write a checkpoint atomically (a crash mid-write leaves the previous file intact)."""
    atomic_write(Path(path), lambda handle: torch.save(payload, handle))


def read_checkpoint(path: Path, mmap: bool = False) -> dict[str, Any]:
    """Load a checkpoint dict safely (``weights_only=True``) and check its format. ``mmap``: the
    tensors are mapped from the file and read as they are used (no copy of 40+ MB up front)."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: a folder, not a checkpoint file (give the .pt file, e.g. {path}/best.pt)")
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found (train a model first: python train.py)")
    try:
        size = path.stat().st_size
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({error.strerror or error})") from None
    if size == 0:
        raise CheckpointError(f"{path}: empty file, not a checkpoint (it was left untouched)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as error:
        raise CheckpointError(f"{path}: not a readable fashion checkpoint (damaged, truncated, or not written "
                              f"by train.py; torch.load: {error.__class__.__name__}); it was left untouched") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a fashion checkpoint (expected format {FORMAT})")
    _check_payload(payload, path)
    return payload


def _check_payload(payload: dict[str, Any], path: Path) -> None:
    """Refuse, naming what is wrong, a checkpoint whose parts are missing, mistyped or non-finite.

    Mends harmless gaps in place (``training`` / ``metrics`` that are not dicts read as empty).
    """

    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"{path}: damaged fashion checkpoint ({what}); it was left untouched")

    for key in ("model", "model_args", "transform", "config", "labels"):
        if not isinstance(payload.get(key), dict):
            raise bad(f"'{key}' is missing or not a mapping")
    for key in ("training", "metrics"):
        if not isinstance(payload.get(key, {}), dict):
            payload[key] = {}
    args = payload["model_args"]
    if not isinstance(args.get("arch"), str):
        raise bad("model_args.arch is missing")
    for key, least in (("num_categories", 1), ("num_attributes", 0)):  # folder-per-class data has no attributes
        if isinstance(args.get(key), bool) or not isinstance(args.get(key), int) or args[key] < least:
            raise bad(f"model_args.{key} is not a {'positive' if least else 'non-negative'} whole number")
    size = payload["transform"].get("image_size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise bad("transform.image_size is not a positive whole number")
    labels = payload["labels"]
    for key in ("category_names", "attribute_names", "category_types", "attribute_types"):
        if not isinstance(labels.get(key), list):
            raise bad(f"labels.{key} is missing or not a list")
    if (len(labels["category_names"]) != args["num_categories"]
            or len(labels["attribute_names"]) != args["num_attributes"]):
        raise bad("its label lists do not match the network's outputs")
    for name, value in payload["model"].items():
        if not isinstance(value, torch.Tensor):
            raise bad(f"weight {name!r} is not a tensor")
        if value.is_floating_point() and value.numel() and not _finite(value):
            raise CheckpointError(f"{path}: holds non-finite weights (NaN or inf in {name}): the training "
                                  "that wrote it diverged; use an earlier checkpoint or train again")


def _finite(value: torch.Tensor) -> bool:
    """No NaN or infinity in ``value``: its min and max are finite (a NaN makes both NaN). One pass
    without a mask: ~5x faster than ``isfinite(value).all()`` over a checkpoint (issue 17)."""
    low, high = torch.aminmax(value)
    return bool(torch.isfinite(low) & torch.isfinite(high))


def labels_from_payload(payload: dict[str, Any]) -> Labels:
    """The label names and types stored in a checkpoint."""
    stored = payload["labels"]
    keys = ("category_names", "category_types", "attribute_names", "attribute_types")
    return Labels(**{key: stored.get(key) for key in keys})


def check_compatible(payload: dict[str, Any], config: Config, labels: Labels, path: Path) -> None:
    """Refuse, with a clear message, a checkpoint built for another architecture or label set."""
    args = payload["model_args"]
    if args["arch"] != config.model.arch:
        raise CheckpointError(
            f"{path} holds a {args['arch']} but the configuration asks for {config.model.arch}; "
            "use the checkpoint's config or start a new run (another train.run_name)"
        )
    stored = labels_from_payload(payload)
    if stored.category_names != labels.category_names or stored.attribute_names != labels.attribute_names:
        raise CheckpointError(
            f"{path} was trained on another label set ({len(stored.category_names)} categories, "
            f"{len(stored.attribute_names)} attributes; this data has {len(labels.category_names)} and "
            f"{len(labels.attribute_names)}); start a new run (another train.run_name)"
        )
    stored_embedding = args.get("embedding", "penultimate")
    if stored_embedding != config.model.embedding:
        raise CheckpointError(
            f"{path} holds a model with the {stored_embedding} embedding but model.embedding is "
            f"{config.model.embedding}; start a new run (another train.run_name)"
        )
    if payload["transform"]["image_size"] != config.model.image_size:
        raise CheckpointError(
            f"{path} was trained at {payload['transform']['image_size']} px but model.image_size is "
            f"{config.model.image_size}"
        )


_INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
                   "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
                   "sparse_")
_NO_INIT = threading.Lock()


@contextlib.contextmanager
def _weights_left_uninitialised() -> Iterator[None]:
    """``torch.nn.init``'s functions leave tensors as they are inside: a network whose every weight a
    checkpoint then replaces is built without drawing millions of random numbers (0.1-0.3 s of a
    cold start, issue 17; the meta device would import ``torch._dynamo`` for ``normal_``: seconds).
    Process-wide while it lasts (milliseconds): networks are not built in other threads meanwhile."""
    with _NO_INIT:
        saved = {name: getattr(torch.nn.init, name) for name in _INIT_FUNCTIONS if hasattr(torch.nn.init, name)}
        for name in saved:
            setattr(torch.nn.init, name, _leave)
        try:
            yield
        finally:
            for name, function in saved.items():
                setattr(torch.nn.init, name, function)


def _leave(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return tensor


def model_from_payload(payload: dict[str, Any], path: Path) -> FashionNet:
    """Rebuild the network from a checkpoint dict (weights included)."""
    args = payload["model_args"]
    # Checkpoints written before the metric head have no embedding arguments: the penultimate layer.
    try:
        with _weights_left_uninitialised():  # the checkpoint replaces every one of them just below
            model = FashionNet(
                args["arch"], args["num_categories"], args["num_attributes"], weights="none",
                dropout=args.get("dropout", 0.0), embedding=args.get("embedding", "penultimate"),
                embedding_dim=args.get("embedding_dim", 128), metric_proxies=args.get("metric_proxies", 0),
            )
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{path}: damaged fashion checkpoint (its model_args do not describe a network "
                              f"this release builds: {error})") from None
    state = payload["model"]
    own = model.state_dict()
    # Tensors of the right type are used as they are (mapped from the file), others copied and converted.
    assign = all(isinstance(v, torch.Tensor) and k in own and v.dtype == own[k].dtype for k, v in state.items())
    try:
        model.load_state_dict(state, assign=assign)  # strict: a weight the file lacks is an error
    except RuntimeError as error:
        # torch's message is a header line ("Error(s) in loading state_dict ...:") then the reasons.
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = next((line for line in lines if not line.startswith("Error(s) in loading")), lines[0] if lines else "")
        raise CheckpointError(f"{path}: weights do not match {args['arch']} ({reason[:300]})") from None
    return model


def load_model(path: str | Path, device: str = "auto") -> LoadedModel:
    """Load a trained model for inference: (model in eval mode, eval transform, labels, ...)."""
    path = Path(path)
    payload = read_checkpoint(path, mmap=True)
    try:
        config = config_from_dict(payload["config"])
    except ConfigError as error:
        raise CheckpointError(f"{path}: stored configuration is invalid ({error})") from None
    target = pick_device(device)
    model = model_from_payload(payload, path).to(target).eval()
    fold_batchnorm(model.trunk)  # inference only: the same outputs for less CPU
    labels = labels_from_payload(payload)
    checksum = _checksum(path, labels, payload["config"])
    return LoadedModel(
        model=model,
        transform=eval_transform(payload["transform"]["image_size"]),
        labels=labels,
        config=config,
        checksum=checksum,
        device=target,
        metrics=payload.get("metrics", {}),
    )


def _checksum(path: Path, labels: Labels, config: dict[str, Any]) -> str:
    """sha256 of the checkpoint: from its sidecar (:mod:`fashion.model.meta`) while the file's size and
    mtime are those it recorded (hashing 100+ MB costs a cold start ~0.3 s), else hashed and the
    sidecar (re)written."""
    from fashion.model.meta import read_meta, write_meta

    meta = read_meta(path)
    if meta is not None and meta["labels"] == labels:
        return str(meta["checksum"])
    checksum = file_checksum(path)
    write_meta(path, checksum, labels, config)
    return checksum
