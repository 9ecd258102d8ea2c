"""Errors that reach the user as one line: what is wrong, with which file, and how to fix it.

Every module raises these (never prints); the CLI layer turns them into one stderr line and an exit code.
"""
from __future__ import annotations

from pathlib import Path


class PoseCliError(Exception):
    """An error the user can act on. ``str()`` is the whole one-line message."""

    exit_code = 1

    def __init__(self, problem: str, fix: str | None = None, path: str | Path | None = None):
        self.problem = problem
        self.fix = fix
        self.path = None if path is None else str(path)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        head = f"{self.path}: {self.problem}" if self.path else self.problem
        return f"{head} ({self.fix})" if self.fix else head


class InputError(PoseCliError):
    """An input file is missing, unreadable, of the wrong kind, corrupt or inconsistent."""


class OutputError(PoseCliError):
    """An output cannot be written (directory missing or not writable, disk full, ...)."""


class SchemaError(InputError):
    """A pose file does not follow the posecli schema (or the format it claims)."""
