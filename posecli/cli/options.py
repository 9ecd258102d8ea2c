"""Options every command shares, declared once (Typer reads the Annotated metadata)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

Out = Annotated[Path, typer.Option("--out", "-o", help="Output file (written atomically).", dir_okay=False)]
OptOut = Annotated[Optional[Path], typer.Option("--out", "-o", help="Output file (written atomically).", dir_okay=False)]
Device = Annotated[str, typer.Option("--device", help="Torch device for models: cpu, cuda, cuda:1, ...")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or warnings on stderr.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")]
Start = Annotated[int, typer.Option("--start", min=0, help="First frame to process (0-based, inclusive).")]
End = Annotated[Optional[int], typer.Option("--end", min=1, help="Stop before this frame (exclusive).")]
Every = Annotated[int, typer.Option("--every", min=1, help="Process every N-th frame.")]
Fps = Annotated[Optional[float], typer.Option("--fps", min=0.001,
                                              help="Frame rate for image folders and files without one.")]
