"""Trained weights written back into the ``.tflite`` file they came from, so LiteRT runs them.

Why: on a CPU, LiteRT (XNNPACK) runs BlazePose's detector 2.3x faster than the torch port
(docs/benchmarks.md), and the tracker runs the detector on every tile of its search.  Fine-tuning
(``train.detector``) changes only the values of the convolution weights and biases, so the file's graph,
operators and buffer sizes stay as they are and the new values go into the same bytes: float16 where the
file stores float16 (it dequantizes at load, as before), and for the block-sparse pointwise weights only the
stored (non-zero) positions (training keeps the zeros).  Nothing is written to disk: LiteRT gets the patched
bytes in memory.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import PoseCliError
from .tflite_schema import tflite_schema
from .tflite_torch import TFLiteModule, sparse_positions


def patched_model(path: Path, module: TFLiteModule) -> bytes:
    """The bytes of the ``.tflite`` file at ``path`` with ``module``'s convolution weights and biases in place of
    its own (``module`` converted from that file by ``load_tflite``, then trained)."""
    S = tflite_schema()
    data = bytearray(Path(path).read_bytes())
    model = S.Model.GetRootAs(data, 0)
    graph = model.Subgraphs(0)
    for layer in module.layers:
        sources = getattr(layer, "sources", None)
        if sources is None:
            continue
        w = layer.weight.detach().float().cpu().numpy()
        if layer.groups == 1:  # OIHW -> the file's OHWI
            w = w.transpose(0, 2, 3, 1)
        else:  # (C*M)1HW -> 1HW(C*M)
            w = w.transpose(1, 2, 3, 0)
        _write(model, graph, sources[0], w, S)
        if sources[1] >= 0:
            _write(model, graph, sources[1], layer.bias.detach().float().cpu().numpy(), S)
    return bytes(data)


def _write(model, graph, tensor_id: int, values: np.ndarray, S) -> None:
    tensor = graph.Tensors(tensor_id)
    dtypes = {S.TensorType.FLOAT32: np.float32, S.TensorType.FLOAT16: np.float16}
    if tensor.Type() not in dtypes:
        raise PoseCliError(f"cannot write weights of type {tensor.Type()} into the .tflite model",
                           "use the torch runtime")
    stored = model.Buffers(tensor.Buffer()).DataAsNumpy()  # a writable view into the file's bytes
    if not isinstance(stored, np.ndarray):
        raise PoseCliError("the .tflite model keeps its weights outside the flatbuffer", "use the torch runtime")
    shape = tuple(int(d) for d in tensor.ShapeAsNumpy())
    values = values.reshape(shape).astype(dtypes[tensor.Type()])
    sparsity = S.SparsityParametersT.InitFromObj(tensor.Sparsity()) if tensor.Sparsity() is not None else None
    if sparsity is not None:
        index, order = sparse_positions(shape, sparsity)
        packed = np.empty(order.size, dtype=values.dtype)
        packed[order] = values[tuple(index.T)]
        if np.count_nonzero(packed) != np.count_nonzero(values):
            raise PoseCliError("trained weights are not zero where the .tflite model's sparse weights are",
                               "train them with `posecli train detector` (it keeps those zeros)")
        values = packed
    raw = np.frombuffer(values.tobytes(), dtype=np.uint8)
    if raw.size != stored.size:
        raise PoseCliError("trained weights do not fit the .tflite model's buffer", "use the torch runtime")
    stored[:] = raw
