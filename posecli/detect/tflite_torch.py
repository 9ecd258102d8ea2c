"""A TFLite model rebuilt as a torch ``nn.Module``: BlazePose's detector and landmark networks on any torch device.

The ``.tflite`` flatbuffer is read with the schema module that ships in ``ai-edge-litert`` (already a dependency:
it is the runtime this port is checked against), and every operator becomes a small ``nn.Module`` holding its own
weights: ``Conv2D``, ``DepthwiseConv2D``, ``Add``... run in the file's (topological) order over a table of
tensors.  Why a converter and not hand-written BlazePose classes: the two networks are 96 and 97 layers of
mediapipe's own design, and reading the wiring from the file is the one way to be sure it is theirs (a hand copy
would be checked against the file anyway).  Only the operators these two models use are supported; any other
is named in a clear error.

Layout: TFLite is NHWC, torch convolutions NCHW.  Rank-4 activations live as NCHW inside the module; the input
is taken and the outputs returned in TFLite's NHWC layout, so callers see the same shapes as from LiteRT.

Constants: the weights are stored as float16 (``DEQUANTIZE``) and some of the detector's as block-sparse
(``DENSIFY``); both are folded at conversion into plain float32 parameters.  Conversion reads ~3-6 MB and takes
well under a second (``bench/blazepose_torch.py`` prints it), so the wheel's file is read each time rather than
converted to a cache that could go stale against an upgraded mediapipe.

Batches: the file says batch 1; the module runs any batch size (reshapes keep the first axis as the batch).
``TFLiteModule.select`` drops outputs nobody uses with the operators that only feed them (the landmark model's
256x256 segmentation mask costs LiteRT time on every call; the torch port does not compute it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import PoseCliError
from .tflite_schema import tflite_schema

# NHWC axis -> NCHW axis for rank-4 tensors.
_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


# ---------------------------------------------------------------- operators

def _activation(x: torch.Tensor, code: int) -> torch.Tensor:
    """TFLite's fused activation functions (ActivationFunctionType), in place: ``x`` is always the fresh result
    of the operator they are fused into (a fifth less time on the CPU than allocating a copy)."""
    if code == 0:
        return x
    if code == 1:
        return F.relu_(x)
    if code == 2:
        return x.clamp_(-1.0, 1.0)
    if code == 3:
        return F.relu6(x, inplace=True)
    if code == 4:
        return x.tanh_()
    raise PoseCliError(f"unsupported fused activation {code} in the .tflite model", "use the LiteRT backend")


def _same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding for one axis: the extra pixel (if any) goes after, not before."""
    effective = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


class _Conv(nn.Module):
    """CONV_2D and DEPTHWISE_CONV_2D: explicit (possibly asymmetric) SAME padding, then an unpadded conv."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, stride: int, dilation: int, groups: int,
                 pads: tuple[int, int, int, int], activation: int):
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)
        self.stride, self.dilation, self.groups, self.activation = stride, dilation, groups, activation
        left, right, top, bottom = pads
        # Symmetric padding goes into the convolution itself (one kernel call); asymmetric needs F.pad first.
        self.inner = (top, left) if (left == right and top == bottom) else (0, 0)
        self.outer = None if (left == right and top == bottom) else pads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outer is not None:
            x = F.pad(x, self.outer)
        x = F.conv2d(x, self.weight, self.bias, self.stride, self.inner, self.dilation, self.groups)
        return _activation(x, self.activation)


class _Add(nn.Module):
    def __init__(self, activation: int):
        super().__init__()
        self.activation = activation

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return _activation(a + b, self.activation)


class _Pad(nn.Module):
    def __init__(self, pads: tuple[int, ...]):
        super().__init__()
        self.pads = pads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, self.pads)


class _MaxPool(nn.Module):
    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int], pads: tuple[int, int, int, int],
                 activation: int):
        super().__init__()
        self.kernel, self.stride, self.pads, self.activation = kernel, stride, pads, activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.pads):
            x = F.pad(x, self.pads, value=float("-inf"))
        return _activation(F.max_pool2d(x, self.kernel, self.stride), self.activation)


class _Resize(nn.Module):
    """RESIZE_BILINEAR with half-pixel centres (= torch's ``align_corners=False``) or with aligned corners."""

    def __init__(self, size: tuple[int, int], align_corners: bool):
        super().__init__()
        self.size, self.align_corners = size, align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=self.size, mode="bilinear", align_corners=self.align_corners)


class _DepthToSpace(nn.Module):
    """TensorFlow's DEPTH_TO_SPACE (channels ordered block row, block column, depth: not torch's pixel_shuffle)."""

    def __init__(self, block: int):
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        b = self.block
        x = x.view(n, b, b, c // (b * b), h, w).permute(0, 3, 4, 1, 5, 2)
        return x.reshape(n, c // (b * b), h * b, w * b)


class _Reshape(nn.Module):
    """RESHAPE in TFLite's element order: rank-4 inputs go back to NHWC first, rank-4 outputs to NCHW after."""

    def __init__(self, shape: tuple[int, ...], in_rank: int):
        super().__init__()
        self.shape, self.in_rank = shape, in_rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_rank == 4:
            x = x.permute(0, 2, 3, 1)
        x = x.reshape((x.shape[0], *self.shape[1:]))
        return x.permute(0, 3, 1, 2) if len(self.shape) == 4 else x


class _Concat(nn.Module):
    def __init__(self, axis: int, activation: int):
        super().__init__()
        self.axis, self.activation = axis, activation

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return _activation(torch.cat(xs, self.axis), self.activation)


class _Sigmoid(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x)


# ---------------------------------------------------------------- the graph

class TFLiteModule(nn.Module):
    """The operators of one TFLite subgraph in file order.  ``forward(x)`` takes an (N, H, W, C) float tensor
    (TFLite's input layout) and returns the requested outputs, each in TFLite's layout with batch N."""

    def __init__(self, layers: list[nn.Module], wiring: list[tuple[list[int], int]], output_ids: list[int],
                 output_names: list[str], input_id: int, output_shapes: list[tuple[int, ...]]):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.wiring = wiring  # per layer: (input tensor ids, output tensor id)
        self.output_ids = output_ids
        self.output_names = output_names
        self.output_shapes = output_shapes  # per output, TFLite layout without the batch axis
        self.input_id = input_id
        # Last use of each tensor, so the table frees activations as soon as nothing downstream needs them.
        last: dict[int, int] = {}
        for i, (ins, _) in enumerate(wiring):
            for t in ins:
                last[t] = i
        # (a set: an operator may take one tensor twice, e.g. x + x)
        self._free_after = [{t for t in ins if last[t] == i and t not in output_ids} for i, (ins, _) in
                            enumerate(wiring)]

    def select(self, names: list[str]) -> TFLiteModule:
        """A module computing only the outputs ``names`` (in that order), without the layers that feed only others."""
        ids = [self.output_ids[self.output_names.index(n)] for n in names]
        needed, keep = set(ids), []
        for i in reversed(range(len(self.layers))):
            ins, out = self.wiring[i]
            if out in needed:
                keep.append(i)
                needed.update(ins)
        keep.reverse()
        shapes = [self.output_shapes[self.output_names.index(n)] for n in names]
        return TFLiteModule([self.layers[i] for i in keep], [self.wiring[i] for i in keep], ids, list(names),
                            self.input_id, shapes)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        table = {self.input_id: x.permute(0, 3, 1, 2)}
        for layer, (ins, out), free in zip(self.layers, self.wiring, self._free_after):
            table[out] = layer(*(table[t] for t in ins))
            for t in free:
                del table[t]
        return [table[t].permute(0, 2, 3, 1) if table[t].dim() == 4 else table[t] for t in self.output_ids]


@dataclass
class _Tensor:
    shape: tuple[int, ...]
    name: str
    const: np.ndarray | None  # folded constant (float32 or int32), None for activations
    source: int = -1  # for a folded constant: the id of the tensor whose buffer holds it (detect.tflite_patch)
    sparse: bool = False  # stored block-sparse in the file (its zeros must stay zeros to be written back)


def load_tflite(path: Path) -> TFLiteModule:
    """Convert a ``.tflite`` file to a :class:`TFLiteModule` (CPU, float32, eval mode, no gradients)."""
    S = tflite_schema()
    try:
        model = S.ModelT.InitFromPackedBuf(Path(path).read_bytes(), 0)
    except Exception as exc:  # flatbuffers raises assorted errors on a damaged file
        raise PoseCliError(f"cannot read the model file ({exc})", "reinstall mediapipe==0.10.14", path) from exc
    if len(model.subgraphs) != 1:
        raise PoseCliError("this .tflite file has several subgraphs; only one is supported", "use the LiteRT backend",
                           path)
    graph = model.subgraphs[0]
    op_names = {v: k for k, v in vars(S.BuiltinOperator).items() if not k.startswith("_")}
    tensors = [_Tensor(tuple(int(d) for d in t.shape), t.name.decode(), _constant(model, t, S), i,
                       t.sparsity is not None) for i, t in enumerate(graph.tensors)]

    ops = []
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        ops.append((op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM"), op))
    # Fold constant operators (DENSIFY, DEQUANTIZE of the weights) into float32 constants.
    layers, wiring = [], []
    for name, op in ops:
        out = tensors[op.outputs[0]]
        if name in ("DEQUANTIZE", "DENSIFY") and tensors[op.inputs[0]].const is not None:
            out.const = tensors[op.inputs[0]].const.astype(np.float32).reshape(out.shape)
            out.source, out.sparse = tensors[op.inputs[0]].source, tensors[op.inputs[0]].sparse
            continue
        layer, inputs = _layer(name, op, tensors)
        layers.append(layer)
        wiring.append((inputs, int(op.outputs[0])))
    outs = [int(i) for i in graph.outputs]
    module = TFLiteModule(layers, wiring, outs, [tensors[i].name for i in outs], int(graph.inputs[0]),
                          [tensors[i].shape[1:] for i in outs])
    return module.eval().requires_grad_(False)


def _constant(model, tensor, S) -> np.ndarray | None:
    """A tensor's constant data as numpy (densified if sparse), None for activations."""
    data = model.buffers[tensor.buffer].data if tensor.buffer > 0 else None
    if data is None or len(data) == 0:
        return None
    dtypes = {S.TensorType.FLOAT32: np.float32, S.TensorType.FLOAT16: np.float16, S.TensorType.INT32: np.int32,
              S.TensorType.INT64: np.int64}
    if tensor.type not in dtypes:
        raise PoseCliError(f"unsupported constant type {tensor.type} in the .tflite model", "use the LiteRT backend")
    values = np.frombuffer(np.asarray(data, dtype=np.uint8).tobytes(), dtype=dtypes[tensor.type])
    shape = tuple(int(d) for d in tensor.shape)
    if tensor.sparsity is not None:
        return densify(values, shape, tensor.sparsity)
    return values.reshape(shape).copy()


def densify(values: np.ndarray, shape: tuple[int, ...], sparsity) -> np.ndarray:
    """TFLite's sparse tensor format (TACO-style: a traversal order over the dimensions and block dimensions, each
    level DENSE or compressed SPARSE_CSR) expanded to a dense array."""
    index, positions = sparse_positions(shape, sparsity)
    dense = np.zeros(shape, dtype=values.dtype)
    dense[tuple(index.T)] = values[positions]
    return dense


def sparse_positions(shape: tuple[int, ...], sparsity) -> tuple[np.ndarray, np.ndarray]:
    """Where a sparse tensor's stored values go: (K, rank) dense coordinates and, for each, the position of its
    value in the stored array; vectorised level by level."""
    order = [int(d) for d in sparsity.traversalOrder]
    block_map = [] if sparsity.blockMap is None else [int(d) for d in sparsity.blockMap]
    rank = len(shape)
    block_of = {block_map[d - rank]: int(m.denseSize) for d, m in zip(order, sparsity.dimMetadata) if d >= rank}
    positions = np.zeros(1, dtype=np.int64)  # position of each partial path in the next level's arrays
    index = np.zeros((1, rank), dtype=np.int64)  # dense coordinates reached so far
    for d, meta in zip(order, sparsity.dimMetadata):
        if meta.format == 0:  # DENSE
            size = int(meta.denseSize)
            coord = np.tile(np.arange(size), positions.size)
            positions = (positions[:, None] * size + np.arange(size)).reshape(-1)
            index = np.repeat(index, size, axis=0)
        else:  # SPARSE_CSR: children of path p are segments[p] .. segments[p + 1]
            segments = np.asarray(meta.arraySegments.values, dtype=np.int64)
            indices = np.asarray(meta.arrayIndices.values, dtype=np.int64)
            counts = segments[positions + 1] - segments[positions]
            starts = np.repeat(segments[positions], counts)
            offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            positions = starts + offsets
            coord = indices[positions]
            index = np.repeat(index, counts, axis=0)
        if d < rank:  # a (block-grid) dimension of the tensor
            index[:, d] += coord * block_of.get(d, 1)
        else:  # the position inside a block
            index[:, block_map[d - rank]] += coord
    return index, positions


def _layer(name: str, op, tensors: list[_Tensor]) -> tuple[nn.Module, list[int]]:
    """One operator as an nn.Module, and the ids of its activation inputs."""
    opts = op.builtinOptions
    ins = [int(i) for i in op.inputs]
    inp, out = tensors[ins[0]], tensors[op.outputs[0]]
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        w = tensors[ins[1]].const
        bias = tensors[ins[2]].const if len(ins) > 2 and ins[2] >= 0 else None
        kh, kw = w.shape[1:3]
        if name == "CONV_2D":  # OHWI -> OIHW
            weight, groups = w.transpose(0, 3, 1, 2), 1
        else:  # 1HW(C*M) -> (C*M)1HW, one group per input channel
            weight, groups = w.transpose(3, 0, 1, 2), inp.shape[3]
        if opts.padding == 0:  # SAME
            top, bottom = _same_pads(inp.shape[1], kh, opts.strideH, opts.dilationHFactor)
            left, right = _same_pads(inp.shape[2], kw, opts.strideW, opts.dilationWFactor)
        else:
            top = bottom = left = right = 0
        if opts.strideH != opts.strideW or opts.dilationHFactor != opts.dilationWFactor:
            raise PoseCliError(f"unsupported {name} (unequal strides) in the .tflite model", "use the LiteRT backend")
        layer = _Conv(torch.from_numpy(np.ascontiguousarray(weight)),
                      None if bias is None else torch.from_numpy(bias.copy()), opts.strideH, opts.dilationHFactor,
                      groups, (left, right, top, bottom), opts.fusedActivationFunction)
        # where the weights are stored in the file, to write trained ones back (detect.tflite_patch)
        layer.sources = (tensors[ins[1]].source, tensors[ins[2]].source if bias is not None else -1)
        layer.sparse = tensors[ins[1]].sparse
        return layer, ins[:1]
    if name == "ADD":
        if any(tensors[i].const is not None for i in ins):
            raise PoseCliError("unsupported ADD of a constant in the .tflite model", "use the LiteRT backend")
        return _Add(opts.fusedActivationFunction), ins
    if name == "PAD":
        p = tensors[ins[1]].const.reshape(-1, 2)
        if len(inp.shape) != 4:
            raise PoseCliError("unsupported PAD of a non-image tensor in the .tflite model", "use the LiteRT backend")
        # NHWC pairs -> F.pad's order for NCHW: (W before, W after, H before, H after, C before, C after)
        return _Pad(tuple(int(v) for v in (p[2, 0], p[2, 1], p[1, 0], p[1, 1], p[3, 0], p[3, 1]))), ins[:1]
    if name == "MAX_POOL_2D":
        kh, kw = opts.filterHeight, opts.filterWidth
        if opts.padding == 0:
            top, bottom = _same_pads(inp.shape[1], kh, opts.strideH)
            left, right = _same_pads(inp.shape[2], kw, opts.strideW)
        else:
            top = bottom = left = right = 0
        return _MaxPool((kh, kw), (opts.strideH, opts.strideW), (left, right, top, bottom),
                        opts.fusedActivationFunction), ins
    if name == "RESIZE_BILINEAR":
        if not opts.halfPixelCenters and not opts.alignCorners:
            raise PoseCliError("unsupported legacy RESIZE_BILINEAR in the .tflite model", "use the LiteRT backend")
        return _Resize(tuple(int(v) for v in tensors[ins[1]].const), bool(opts.alignCorners)), ins[:1]
    if name == "DEPTH_TO_SPACE":
        return _DepthToSpace(opts.blockSize), ins
    if name == "RESHAPE":
        return _Reshape(out.shape, len(inp.shape)), ins[:1]
    if name == "CONCATENATION":
        rank = len(out.shape)
        axis = opts.axis % rank
        return _Concat(_NCHW_AXIS[axis] if rank == 4 else axis, opts.fusedActivationFunction), ins
    if name == "LOGISTIC":
        return _Sigmoid(), ins
    raise PoseCliError(f"the .tflite model uses the {name} operator, which the torch port does not support",
                       "use the LiteRT backend")
