"""The network's inference pass through ONNX Runtime, for long-lived CPU processes.

A web upload's network pass (resnet18 at 112 px, one thread) cost 22-24 CPU ms in eager torch
and 12 ms in ONNX Runtime at batch 1 (16 vs 11 ms per image at batch 2), with outputs equal to
2e-6 (measured side by side, ``bench/RESULTS.md``). Exporting takes about 1.3 s, so only
processes that describe many photos use it (the web server's describe workers); a cold
``recommend.py`` keeps torch. A catalog build gained nothing measurable from it (1,000 photos,
side by side: 42-43 against 40-45 images/s): decoding and palettes in its DataLoader workers,
not the network, set its pace.

The exported graph is :meth:`FashionNet.infer` (embedding, category logits, attribute logits)
and is checked against torch on a probe batch before it is used: a graph that disagrees is an
:class:`OnnxRuntimeError`, and callers keep torch.
"""

from __future__ import annotations

import importlib.util
import io
import warnings
from typing import TYPE_CHECKING

import numpy as np

from fashion.errors import FashionError

if TYPE_CHECKING:
    from fashion.model.network import FashionNet

# Largest difference from torch accepted on the probe batch (outputs are O(1); seen: 2e-6).
TOLERANCE = 1e-3


class OnnxRuntimeError(FashionError):
    """The network could not be exported to, or run by, ONNX Runtime as torch runs it."""


def available() -> bool:
    """Whether ``onnxruntime`` and ``onnx`` (torch's exporter needs it) are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def _infer_module(model: "FashionNet"):
    """``model.infer`` as a module's forward (what the exporter traces)."""
    import torch

    class Infer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            return self.model.infer(images)

    return Infer().eval()


class OnnxNetwork:
    """A :class:`FashionNet`'s inference pass run by ONNX Runtime on the CPU.

    Call it with a float32 batch (B, 3, H, W) as numpy; it returns (embeddings, category
    logits, attribute logits) as float32 numpy arrays, as ``model.infer`` would.
    """

    def __init__(self, graph: bytes, threads: int) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle pool threads sleep instead of spinning: cores are shared (DataLoader workers, other requests).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only: its warnings are about providers we do not use
        self._session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    @classmethod
    def export(cls, model: "FashionNet", image_size: int, threads: int = 1) -> "OnnxNetwork":
        """Export ``model`` (in eval mode, on the CPU) and check it against torch on a probe batch.

        Raises :class:`OnnxRuntimeError` when onnxruntime is missing, the export fails or the
        outputs differ from torch's by more than :data:`TOLERANCE`.
        """
        import torch

        if not available():
            raise OnnxRuntimeError("onnxruntime is not installed (pip install onnxruntime onnx)")
        if next(model.parameters()).device.type != "cpu":
            raise OnnxRuntimeError("ONNX Runtime runs the network on the CPU only")
        wrapper = _infer_module(model)
        probe = torch.randn(2, 3, image_size, image_size, generator=torch.Generator().manual_seed(0))
        buffer = io.BytesIO()
        try:
            with warnings.catch_warnings():
                # The TorchScript-based exporter is torch's "legacy" one; the new one needs onnxscript.
                warnings.simplefilter("ignore")
                torch.onnx.export(wrapper, (probe,), buffer, dynamo=False, opset_version=17,
                                  input_names=["images"], output_names=["embedding", "category", "attribute"],
                                  dynamic_axes={"images": {0: "batch"}, "embedding": {0: "batch"},
                                                "category": {0: "batch"}, "attribute": {0: "batch"}})
            network = cls(buffer.getvalue(), threads)
        except Exception as error:  # noqa: BLE001 - any exporter/runtime failure means: keep torch
            raise OnnxRuntimeError(f"could not export the network to ONNX ({type(error).__name__}: {error})") from error
        with torch.inference_mode():
            expected = [t.float().numpy() for t in wrapper(probe)]
        got = network(probe.numpy())
        worst = max(float(np.abs(a - b).max()) for a, b in zip(got, expected))
        if not worst <= TOLERANCE:  # also catches NaN
            raise OnnxRuntimeError(f"ONNX Runtime's outputs differ from torch's by {worst:.2g} (> {TOLERANCE})")
        return network

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        embedding, category, attribute = self._session.run(
            None, {self._input: np.ascontiguousarray(images, dtype=np.float32)})
        return embedding, category, attribute
