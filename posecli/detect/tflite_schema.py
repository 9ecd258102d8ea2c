"""The ``.tflite`` flatbuffer schema (LiteRT's generated reader/writer), imported without torch: ``track`` with
LiteRT edits a model (``tflite_prune``) but never imports torch (``tests/test_cli.py``)."""
from __future__ import annotations

from ..errors import PoseCliError


def tflite_schema():
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError as exc:
        raise PoseCliError("cannot read .tflite files: the ai-edge-litert package is missing or too old",
                           "install it with: pip install ai-edge-litert") from exc
    return schema_py_generated
