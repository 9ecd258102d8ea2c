"""SSD anchor centres for the BlazePose person detector.

The detector regresses every box relative to a fixed grid of anchors that is not stored in the
.tflite file: mediapipe rebuilds it at graph start-up (SsdAnchorsCalculator).  We rebuild the same
grid from the options found in mediapipe 0.10.14's embedded ``PoseDetectionCpu`` graph:
num_layers 5, strides [8, 16, 32, 32, 32], aspect_ratios [1.0], interpolated_scale_aspect_ratio 1.0,
anchor offset 0.5, fixed_anchor_size true, reduce_boxes_in_lowest_layer false, input 224x224.

With ``fixed_anchor_size`` every anchor has width = height = 1, so scales and aspect ratios only
matter through how *many* anchors each grid cell gets: one per aspect ratio plus one interpolated
anchor, i.e. 2 per cell per layer.  Layers that share a stride are merged into one grid (their
anchors are interleaved per cell, in layer order), exactly as mediapipe does.
"""
from __future__ import annotations

import math

import numpy as np

INPUT_SIZE = 224
STRIDES = (8, 16, 32, 32, 32)
ANCHOR_OFFSET = 0.5
# Per layer: len(aspect_ratios) == 1, plus 1 interpolated-scale anchor (ratio 1.0 > 0).
ANCHORS_PER_LAYER = 2
NUM_ANCHORS = 2254


def generate_anchors(
    input_size: int = INPUT_SIZE,
    strides: tuple[int, ...] = STRIDES,
    anchors_per_layer: int = ANCHORS_PER_LAYER,
    offset: float = ANCHOR_OFFSET,
) -> np.ndarray:
    """Return the (N, 2) anchor centres (x, y), normalised to [0, 1] of the detector input.

    Order matters: it must match the order of the model's 2254 output rows.
    """
    centres = []
    layer = 0
    while layer < len(strides):
        # Consecutive layers with the same stride share one feature map: count their anchors.
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            last += 1
        per_cell = anchors_per_layer * (last - layer)
        fm = int(math.ceil(input_size / strides[layer]))  # square input -> square feature map
        ys, xs = np.meshgrid(np.arange(fm), np.arange(fm), indexing="ij")  # row-major: y outer, x inner
        cx = (xs.ravel() + offset) / fm
        cy = (ys.ravel() + offset) / fm
        cell = np.stack([cx, cy], axis=1)
        centres.append(np.repeat(cell, per_cell, axis=0))  # all anchors of a cell are consecutive
        layer = last
    return np.concatenate(centres, axis=0).astype(np.float32)
