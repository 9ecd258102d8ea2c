"""Shared pytest fixtures."""
from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the repository (large real inputs kept out of git); skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not found: integration data absent")
    return SHARED_DATA


@pytest.fixture(scope="module")
def renderer():
    """A small headless mesh renderer (160x120, f = 100 px, principal point at the centre); skips without GL."""
    from posecli.errors import PoseCliError
    from posecli.render.mesh import MeshRenderer

    try:
        r = MeshRenderer(160, 120, 100.0, 80.0, 60.0)
    except PoseCliError as exc:
        pytest.skip(f"no headless OpenGL platform here: {exc}")
    yield r
    r.close()
