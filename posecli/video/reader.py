"""Stream frames out of a video, an image folder or an image, one at a time, upright and as RGB."""
from __future__ import annotations

import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from ..errors import InputError, PoseCliError
from .probe import DAMAGED_FIX, VideoInfo, list_images, open_video, probe, read_image, reason, video_stream

# Frame threading, measured on 2 cores: H.264 26-37% faster, VP9 (sports2d demo) 41 -> 61 fps.
# Other decoders keep PyAV's default, untested.
_THREADED_CODECS = {"h264", "vp9"}


@dataclass
class Frame:
    index: int  # 0-based position in the source, whatever start/every skipped
    time: float  # seconds from the start of the stream
    image: np.ndarray  # HxWx3 uint8 RGB, C-contiguous, upright


def read_frames(path: str | Path, start: int = 0, end: int | None = None, every: int = 1,
                fps: float | None = None) -> Iterator[Frame]:
    """Frames ``start`` (inclusive) to ``end`` (exclusive), keeping every ``every``-th counted from ``start``.

    Options and the input are checked now, so bad ones fail before the caller starts any work; frames are
    then decoded lazily and never kept, so memory does not grow with the video's length. ``fps`` sets the
    timing of image inputs (default 30) and of videos that carry none.
    """
    _check_options(start, end, every)
    info = probe(path, fps=fps)
    if start >= info.frames:
        raise PoseCliError(f"start={start} is past the last frame ({info.path} has {info.frames} frames)",
                           f"give a start below {info.frames}")
    if info.kind == "video":
        return _video_frames(info, start, end, every)
    files = list_images(Path(path)) if info.kind == "images" else [Path(path)]
    return _image_frames(info, files, start, end, every)


def _check_options(start, end, every) -> None:
    def whole(value) -> bool:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)

    if not whole(start) or start < 0:
        raise PoseCliError(f"start={start!r} is not a frame index", "give start as an integer >= 0")
    if end is not None and (not whole(end) or end <= start):
        raise PoseCliError(f"end={end!r} must be an integer greater than start={start}",
                           "end is exclusive: give end > start, or leave it out to read to the last frame")
    if not whole(every) or every < 1:
        raise PoseCliError(f"every={every!r} must be an integer >= 1", "every=1 keeps all frames, 2 every other")


def _wanted(index: int, start: int, every: int) -> bool:
    return index >= start and (index - start) % every == 0


def _video_frames(info: VideoInfo, start: int, end: int | None, every: int) -> Iterator[Frame]:
    path = Path(info.path)
    index = 0
    packets = 0
    last = None if end is None else start + (end - 1 - start) // every * every  # last index to yield
    with open_video(path) as container:
        stream = video_stream(container, path)
        if stream.codec_context.name in _THREADED_CODECS:
            stream.thread_type = "AUTO"
        time_base = stream.time_base
        origin = stream.start_time or 0
        try:
            # demux+decode by hand rather than container.decode(): the packet count tells a cut-off file
            # from a decoder that legitimately shows fewer frames than it was given (edit lists, hidden frames)
            for packet in container.demux(stream):
                packets += 1 if packet.size else 0
                for frame in packet.decode():
                    current = index
                    index += 1
                    if not _wanted(current, start, every):
                        continue  # skipped frames are never converted: conversion costs as much as decoding
                    if frame.pts is not None and time_base is not None:
                        time = float((frame.pts - origin) * time_base)
                    else:
                        time = current / info.fps
                    yield Frame(current, time, _to_rgb(frame, info.rotation))
                    if current == last:
                        return  # nothing more is wanted: leave the rest of the file undecoded
        except av.error.FFmpegError as exc:
            raise InputError(f"decoding failed at frame {index} of {info.frames} ({reason(exc)})",
                             DAMAGED_FIX, path) from exc
        except OSError as exc:
            raise InputError(f"reading failed at frame {index} ({exc.strerror or exc})",
                             "check the file and the disk it is on", path) from exc
    expected = info.frames if end is None else min(end, info.frames)
    if index < expected and packets < info.frames:
        raise InputError(f"stream ends at frame {index} of {info.frames} declared (truncated file?)",
                         DAMAGED_FIX, path)


def _to_rgb(frame, rotation: int) -> np.ndarray:
    image = frame.to_ndarray(format="rgb24")
    if rotation:
        image = np.rot90(image, k=-rotation // 90)  # rot90 turns counter-clockwise; rotation is clockwise
    # rgb24 rows are padded to the decoder's alignment (e.g. widths 1080, 1768), and rot90 returns a view:
    # either way the array is strided; the copy also hands the decoder's pooled buffer back at once
    return np.ascontiguousarray(image)


def _image_frames(info: VideoInfo, files: list[Path], start: int, end: int | None,
                  every: int) -> Iterator[Frame]:
    stop = len(files) if end is None else min(end, len(files))
    for index in range(start, stop, every):
        image = read_image(files[index])
        if image.shape[:2] != (info.height, info.width):
            height, width = image.shape[:2]
            raise InputError(f"is {width}x{height}, but the first image is {info.width}x{info.height}",
                             "all images of a sequence must have the same size", files[index])
        yield Frame(index, index / info.fps, image)
