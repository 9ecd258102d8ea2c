"""Options every command shares, declared once (Typer reads the Annotated metadata)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

Out = Annotated[Path, typer.Option("--out", "-o", help="Output file (written atomically).", dir_okay=False)]
OptOut = Annotated[Optional[Path], typer.Option("--out", "-o", help="Output file (written atomically).", dir_okay=False)]


def check_device(value: str) -> str:
    """``--device``: a torch device this torch build can use (``auto``: CUDA, else Apple's MPS, else the CPU);
    one clear line otherwise, before any work."""
    import torch

    from ..errors import InputError, PoseCliError

    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if value == "auto":
        return "cuda" if torch.cuda.is_available() else ("mps" if mps else "cpu")
    try:
        dev = torch.device(value)
    except (RuntimeError, ValueError):
        raise InputError(f"--device {value!r} is not a torch device", "use cpu, cuda, cuda:N, mps or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise PoseCliError("CUDA is not available in this torch build",
                           "install a CUDA torch or use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise PoseCliError(f"there is no {value} (this machine has {torch.cuda.device_count()} CUDA devices)",
                           "use --device cuda:0 or --device auto")
    if dev.type == "mps" and not mps:
        raise PoseCliError("Apple's MPS is not available here", "use --device cpu")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"--device {value!r}: posecli runs on cpu, cuda or mps", "use cpu, cuda, cuda:N, mps or auto")
    return value


Device = Annotated[str, typer.Option("--device", callback=check_device,
                                     help="Torch device for models: cpu, cuda, cuda:1, mps, or auto (CUDA when "
                                          "present).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or warnings on stderr.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")]
Start = Annotated[int, typer.Option("--start", min=0, help="First frame to process (0-based, inclusive).")]
End = Annotated[Optional[int], typer.Option("--end", min=1, help="Stop before this frame (exclusive).")]
Every = Annotated[int, typer.Option("--every", min=1, help="Process every N-th frame.")]
Fps = Annotated[Optional[float], typer.Option("--fps", min=0.001,
                                              help="Frame rate for image folders and files without one.")]
