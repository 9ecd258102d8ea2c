"""The command-line layer: parse, call the API, write. Each command lives in its own module."""
from __future__ import annotations

import os
import sys
import traceback

import typer

from .. import __version__
from ..console import set_quiet, stderr
from ..errors import PoseCliError

def _no_placeholder_for_flags() -> None:
    """Typer 0.2x prints a '<bool>' type column for on/off flags (--smooth <bool>), which reads as if the flag
    took a value. Flags get no placeholder; every other option keeps typer's (<int>, <path>, choices...).
    Guarded: typer versions without this hook keep their own behaviour."""
    from typer.core import TyperOption

    original = getattr(TyperOption, "display_type_rich", None)
    if original is None or getattr(original, "_posecli", False):
        return

    def display_type_rich(self, ctx):
        if getattr(self, "is_bool_flag", False):
            return None
        return original(self, ctx)

    display_type_rich._posecli = True
    TyperOption.display_type_rich = display_type_rich


_no_placeholder_for_flags()

app = typer.Typer(
    name="posecli",
    help="Videos of people -> 2D keypoints, 3D poses, body meshes, embeddings and alignments. Offline, on CPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Examples:\n\n  posecli estimate dance.mp4 -o poses.npz      # people, 2D and 3D per frame\n\n"
    "  posecli track match.mp4 -o tracks.npz        # 2D keypoints with stable IDs\n\n"
    "  posecli render dance.mp4 poses.npz -o overlay.mp4\n\n"
    "  posecli align a.mp4 b.mp4 -o alignment.json\n\n"
    "  posecli export poses.npz --to trc --track 1 -o poses.trc\n\n"
    "posecli COMMAND --help shows each command's options and examples.",
)


def _version(value: bool) -> None:
    if value:
        print(f"posecli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Videos of people -> 2D keypoints, 3D poses, body meshes, embeddings and alignments. Offline, on CPU."""


from . import export as _export  # noqa: E402,F401  (registers commands)
from . import info as _info  # noqa: E402,F401
from . import track as _track  # noqa: E402,F401
from . import train as _train  # noqa: E402,F401
from . import train_images as _train_images  # noqa: E402,F401
from . import train_css as _train_css  # noqa: E402,F401
from . import train_detector as _train_detector  # noqa: E402,F401
from . import estimate as _estimate  # noqa: E402,F401
from . import data as _data  # noqa: E402,F401
from . import embed as _embed  # noqa: E402,F401
from . import align as _align  # noqa: E402,F401
from . import render as _render  # noqa: E402,F401
from . import complete as _complete  # noqa: E402,F401
from . import synth as _synth  # noqa: E402,F401
from . import batch as _batch  # noqa: E402,F401


def _fail(message: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    stderr.print(f"posecli: error: {message}", markup=False, soft_wrap=True)
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point: maps every failure to one stderr line and an exit code (0 ok, 1 failure, 2 usage)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("POSECLI_DEBUG") == "1"
    set_quiet("--quiet" in args or "-q" in args)
    try:
        # Standalone mode: Typer prints usage errors (exit 2) and turns Ctrl-C into exit 130 itself.
        app(args=args, prog_name="posecli")
        return 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code == 130:
            _fail("interrupted; no output was written", 130, False)
        return code
    except PoseCliError as exc:
        return _fail(exc.message, exc.exit_code, debug)
    except MemoryError:
        return _fail("out of memory (try --every, --start/--end, or a smaller input)", 1, debug)
    except Exception as exc:  # a bug: keep it one line, but make the traceback one flag away
        return _fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug and report it)", 1, debug)
    finally:
        # --quiet is this command's: a program (or test) calling main() again, or the library after it, is not
        # silenced by an earlier call
        set_quiet(False)
