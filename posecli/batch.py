"""``posecli batch``: one pipeline step over many videos, each in its own process, resumable.

Why a process per file (``python -m posecli STEP IN -o OUT``): a corrupt video, a decoder crash or a memory
blow-up stays with that file, the step's own error line is what the failures report shows, and the step runs
exactly as the single-file command (same outputs, byte for byte modulo timestamps in the metadata). The pool
is a thread pool that waits on those processes (``--workers N`` at a time); each step already uses its own
threads, so on a small machine 1-2 workers are right.

Resuming: every output is written atomically by the step (temporary name, renamed when complete), so an
interrupted run leaves only whole files; a rerun checks each existing output by reading it as a pose file and
skips it ("done"), and runs everything else, including the files that failed before. The output tree mirrors
the inputs relative to their common folder; ``failures.json`` in the output folder lists what failed and why.
Engines: a local pool (default), or Ray (``engine="ray"``, the optional extra ``posecli[ray]``): one Ray task
per video running the same command on whichever node Ray picks, with ``cpus``/``gpus`` per task, so that a
study spreads over an existing cluster (``address="auto"`` or ``"ray://HOST:PORT"``; inputs and outputs must
be on storage every node sees). Without an address a local Ray instance is started for the run and stopped
after it.

Manifests: an input ending in ``.csv`` or ``.jsonl`` lists the videos itself, one per row, with a column (key)
``input`` and optionally ``args`` (options for that file only, added after the run's ``--args``; a string, or in
JSONL a list) and ``output`` (its output file, relative to ``-o``; default: mirrored as for other inputs).
Relative input paths are read from the manifest's folder, as spreadsheets and study scripts write them.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import atomic_path
from .errors import InputError, PoseCliError

STEPS = ("track", "estimate", "embed", "complete")
ENGINES = ("local", "ray")
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg"}
MANIFEST_SUFFIXES = {".csv", ".jsonl"}
FAILURES = "failures.json"


@dataclass
class Entry:
    """One video to process: its path, options for it alone, and its output (relative to -o) when named."""
    source: Path
    args: list[str] = field(default_factory=list)
    out: Path | None = None


@dataclass
class Job:
    source: Path
    out: Path
    status: str = "todo"  # done (already there) / ok / failed
    seconds: float = 0.0
    error: str = ""
    args: list[str] = field(default_factory=list)  # this file's own options (from a manifest)


def read_manifest(path: Path) -> list[Entry]:
    """The rows of a ``.csv`` (header row) or ``.jsonl`` manifest: ``input`` [, ``args``, ``output``]."""
    rows: list[tuple[int, dict]] = []
    try:
        text = path.read_text(encoding="utf-8-sig")  # spreadsheets save CSV with a byte-order mark
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the manifest ({exc.__class__.__name__})", "give a UTF-8 .csv or .jsonl",
                         path) from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if "input" not in (reader.fieldnames or []):
            raise InputError("the manifest has no 'input' column", "put a header row: input,args,output", path)
        rows = [(n + 2, row) for n, row in enumerate(reader)]
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            if not isinstance(row, dict) or "input" not in row:
                raise InputError(f"line {n} is not a JSON object with an \"input\"",
                                 'write one {"input": "video.mp4", "args": "...", "output": "x.npz"} per line', path)
            rows.append((n, row))
    entries = []
    for n, row in rows:
        source = Path(str(row.get("input") or "").strip())
        if not str(source) or str(source) == ".":
            raise InputError(f"line {n} has no input", "name a video in every row", path)
        source = source if source.is_absolute() else path.parent / source
        if not source.is_file():
            raise InputError(f"line {n}: {source} does not exist",
                             "fix the path; relative paths are read from the manifest's folder", path)
        raw = row.get("args") or ""
        args = [str(a) for a in raw] if isinstance(raw, list) else shlex.split(str(raw))
        if any(a in ("-o", "--out") for a in args):
            raise InputError(f"line {n}: args must not set -o", "use the output column instead", path)
        out = str(row.get("output") or "").strip()
        if out and (Path(out).is_absolute() or ".." in Path(out).parts):
            raise InputError(f"line {n}: output {out!r} leaves the output folder", "give a path relative to -o",
                             path)
        entries.append(Entry(source.resolve(), args, Path(out) if out else None))
    if not entries:
        raise InputError("the manifest lists no videos", "add one row per video", path)
    return entries


def find_inputs(items: list[Path]) -> list[Entry]:
    """Videos named directly, found (recursively, by suffix) in the folders given, or listed by manifests;
    sorted within each folder, no repeats (the first mention wins)."""
    found: list[Entry] = []
    for item in items:
        if item.is_dir():
            found += [Entry(p) for p in sorted(p for p in item.rglob("*")
                                               if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)]
        elif item.is_file() and item.suffix.lower() in MANIFEST_SUFFIXES:
            found += read_manifest(item)
        elif item.is_file():
            found.append(Entry(item))
        else:
            raise InputError("does not exist", "give video files, folders of videos or a manifest", item)
    unique: dict[Path, Entry] = {}
    for e in found:
        unique.setdefault(e.source.resolve(), Entry(e.source.resolve(), e.args, e.out))
    if not unique:
        raise InputError(f"no videos found (suffixes {', '.join(sorted(VIDEO_SUFFIXES))})",
                         "give video files or folders holding them")
    return list(unique.values())


def plan(entries: list[Entry], out_dir: Path) -> list[Job]:
    """One job per input; outputs mirror the inputs below their common folder (``a/b/x.mp4`` -> ``OUT/a/b/x.npz``)
    unless a manifest names them."""
    root = Path(os.path.commonpath([e.source.parent for e in entries]))
    jobs = [Job(e.source, out_dir / (e.out if e.out else e.source.relative_to(root).with_suffix(".npz")),
                args=e.args) for e in entries]
    seen: dict[Path, Path] = {}
    for job in jobs:  # x.mp4 and x.mov in one folder would write one output
        if job.out in seen:
            raise InputError(f"{seen[job.out].name} and {job.source.name} would both write {job.out}",
                             "give only one of them, or put them in different folders", job.source.parent)
        seen[job.out] = job.source
    return jobs


def is_done(out: Path) -> bool:
    """An existing output that reads as a pose file (outputs are atomic, so a partial one cannot exist)."""
    if not out.is_file():
        return False
    from .formats import read_poses  # here: the pool's workers and Ray tasks do not need the readers

    try:
        read_poses(out)
    except PoseCliError:
        return False
    return True


def run_one(source: str, out: str, step: str, args: list[str]) -> tuple[str, float, str]:
    """One file through ``posecli STEP`` in its own process: (status "ok"/"failed", seconds, error line).
    Plain strings in and out, so that it runs the same in a thread here or as a Ray task on another node."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "posecli", step, source, "-o", out, "-q", *args],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode == 0:
        return "ok", seconds, ""
    lines = [ln for ln in (proc.stderr or "").strip().splitlines() if ln.strip()]
    return "failed", seconds, lines[-1] if lines else f"exit status {proc.returncode}"


def _record(job: Job, result: tuple[str, float, str]) -> None:
    job.status, job.seconds, job.error = result


def run_batch(step: str, jobs: list[Job], args: list[str], workers: int, advance=lambda: None,
              engine: str = "local", address: str | None = None, cpus: float = 1.0, gpus: float = 0.0) -> list[Job]:
    if step not in STEPS:
        raise InputError(f"unknown step {step!r}", f"choose one of: {', '.join(STEPS)}")
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}", f"choose one of: {', '.join(ENGINES)}")
    todo = []
    for job in jobs:
        if is_done(job.out):
            job.status = "done"
            advance()
        else:
            todo.append(job)
    if engine == "ray":
        _run_on_ray(step, todo, args, workers, address, cpus, gpus, advance)
        return jobs
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for job, result in zip(todo, pool.map(lambda j: run_one(str(j.source), str(j.out), step, args + j.args),
                                              todo)):
            _record(job, result)
            advance()
    return jobs


def _run_on_ray(step: str, todo: list[Job], args: list[str], workers: int, address: str | None, cpus: float,
                gpus: float, advance) -> None:
    try:
        import ray
    except ImportError:
        raise InputError("--engine ray needs Ray", 'install it with: pip install "posecli[ray]"') from None
    started = not ray.is_initialized()
    if started:
        # a local instance sized by --workers, or the cluster at --address
        kwargs = {"num_cpus": max(1, workers)} if address is None else {"address": address}
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR, **kwargs)
    try:
        task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(run_one)
        pending = {task.remote(str(j.source), str(j.out), step, args + j.args): j for j in todo}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                _record(pending.pop(ref), ray.get(ref))
                advance()
    finally:
        if started:
            ray.shutdown()


def write_failures(jobs: list[Job], out_dir: Path) -> Path:
    path = out_dir / FAILURES
    failed = [{"input": str(j.source), "output": str(j.out), "error": j.error} for j in jobs if j.status == "failed"]
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps({"failed": failed}, indent=1) + "\n")
    return path
