"""The console entry point. It installs the Ctrl-C handler *before* importing the CLI, whose libraries (torch,
PyAV, OpenCV, SciPy) take a second or more to load: an interrupt during that time is then one clean line and
exit 130 like any other, instead of a traceback from inside some library's import."""
from __future__ import annotations

import signal
import sys

INTERRUPTED = "posecli: error: interrupted; no output was written\n"


def main() -> None:
    interrupted = False

    def on_sigint(signum, frame):  # noqa: ARG001 - signal handler signature
        nonlocal interrupted
        interrupted = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    try:
        from .cli import main as cli_main

        code = cli_main()
    except BaseException as exc:
        # C extensions turn an interrupt during their import into ImportError; the flag tells them apart.
        if interrupted and not isinstance(exc, SystemExit):
            sys.stderr.write(INTERRUPTED)
            sys.exit(130)
        raise
    sys.exit(code)
