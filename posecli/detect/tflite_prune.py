"""A ``.tflite`` model without the operators that feed only outputs nobody reads.

Why: LiteRT runs every operator of a graph, whichever outputs are read afterwards, and BlazePose's landmark model
spends about 40 % of its time on a 256x256 segmentation mask that posecli never uses (docs/benchmarks.md,
session 27).  The operators, tensors and buffers kept are the file's own, so the outputs kept are bit-identical
(``tests/test_blazepose_torch.py``).  The torch port drops the same operators (``TFLiteModule.select``).
"""
from __future__ import annotations

import numpy as np

from .tflite_schema import tflite_schema


def pruned_model(content: bytes, names: list[str]) -> bytes:
    """The bytes of the ``.tflite`` model ``content`` computing only its outputs ``names`` (in file order)."""
    import flatbuffers

    S = tflite_schema()
    model = S.ModelT.InitFromPackedBuf(content, 0)
    graph = model.subgraphs[0]
    by_name = {graph.tensors[i].name.decode(): int(i) for i in graph.outputs}
    missing = sorted(set(names) - set(by_name))
    if missing:
        raise ValueError(f"the model has no outputs {missing} (it has {sorted(by_name)})")
    wanted = [i for i in (int(i) for i in graph.outputs) if graph.tensors[i].name.decode() in names]
    needed, keep = set(wanted), []
    for op in reversed(graph.operators):  # operators are stored in execution order
        if any(int(o) in needed for o in op.outputs):
            keep.append(op)
            needed.update(int(i) for i in op.inputs if i >= 0)  # -1: an optional input left out
    graph.operators = keep[::-1]
    graph.outputs = np.array(wanted, dtype=np.int32)
    builder = flatbuffers.Builder(len(content) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
