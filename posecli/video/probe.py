"""What an input is (video, image folder or single image) and its size, rate, length and orientation.

Also holds the few helpers the reader shares with it (opening a container, listing and decoding images), so
that both report bad input with the same one-line messages.
"""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from ..errors import InputError, PoseCliError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_IMAGE_CODECS = {".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff"}
DEFAULT_IMAGE_FPS = 30.0

_VIDEO_FIX = "give a video file such as .mp4, .mov, .mkv or .webm, or a folder of images"
DAMAGED_FIX = "re-copy the file, or re-export it from its source"


@dataclass(frozen=True)
class VideoInfo:
    path: str
    kind: str  # 'video' | 'images' | 'image'
    frames: int
    fps: float
    width: int  # display size: rotation metadata already applied
    height: int
    codec: str
    rotation: int  # degrees clockwise needed to show the frame upright
    duration: float
    pix_fmt: str | None = None
    bit_rate: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def probe(path: str | Path, fps: float | None = None) -> VideoInfo:
    """Describe a video, a folder of images or one image without decoding more than one frame.

    ``fps`` sets the rate of image inputs (default 30); for videos it is only used when the file has none.
    """
    path = Path(path)
    if fps is not None and not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
        raise PoseCliError(f"fps={fps!r} is not a positive number", "give a frame rate such as 30")
    if not path.exists():
        raise InputError("does not exist", "check the path", path)
    if path.is_dir():
        return _probe_images(path, list_images(path), "images", fps)
    if path.suffix.lower() in IMAGE_EXTS:
        return _probe_images(path, [path], "image", fps)
    return _probe_video(path, fps)


# ---------------------------------------------------------------- videos


def open_video(path: Path):
    """``av.open`` for reading, with every failure turned into an InputError that says what to do."""
    if path.stat().st_size == 0:
        raise InputError("is empty (0 bytes)", DAMAGED_FIX, path)
    try:
        return av.open(str(path), metadata_errors="replace")
    except av.error.PermissionError as exc:
        raise InputError("cannot be read (permission denied)", "check the file's permissions", path) from exc
    except av.error.EOFError as exc:
        raise InputError("ends before any video data (truncated or empty file?)", DAMAGED_FIX, path) from exc
    except av.error.FFmpegError as exc:
        if _looks_like_mp4(path):
            # An MP4 whose header survived but whose index (moov, written last) did not: a cut-off copy.
            raise InputError("is an MP4/MOV without a readable index (moov atom): truncated or corrupt file",
                             DAMAGED_FIX, path) from exc
        raise InputError(f"is not a video ({reason(exc)})", _VIDEO_FIX, path) from exc
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror or exc})", "check the path and permissions", path) from exc


def video_stream(container, path: Path):
    """The first real video stream: cover art in audio files also shows up as a one-frame 'video'."""
    for stream in container.streams.video:
        if not (stream.disposition & av.stream.Disposition.attached_pic):
            return stream
    what = "is audio only: it has no video stream" if container.streams.audio else "has no video stream"
    raise InputError(what, _VIDEO_FIX, path)


def _probe_video(path: Path, fps: float | None) -> VideoInfo:
    with open_video(path) as container:
        stream = video_stream(container, path)
        ctx = stream.codec_context
        declared = stream.frames or 0
        if declared:
            _check_index_inside_file(stream, declared, path)
            frames = declared
        else:
            frames = _count_packets(container, stream, path)
        if frames == 0:
            raise InputError("has no video frames", "record or export the video again", path)
        rate = stream.average_rate or stream.guessed_rate
        stream_duration = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
        container_duration = container.duration / av.time_base if container.duration else None
        rate = float(rate) if rate else None
        if not rate and (stream_duration or container_duration):
            rate = frames / (stream_duration or container_duration)
        rate = rate or fps
        if not rate:
            raise InputError("has no frame rate", "give the frame rate with --fps", path)
        width, height = ctx.width, ctx.height
        codec, pix_fmt = ctx.name, ctx.pix_fmt
        bit_rate = stream.bit_rate or container.bit_rate or None
    rotation = _rotation(path)
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(
        path=str(path), kind="video", frames=frames, fps=rate, width=width, height=height, codec=codec,
        rotation=rotation, duration=stream_duration or container_duration or frames / rate,
        pix_fmt=pix_fmt, bit_rate=bit_rate,
    )


def _count_packets(container, stream, path: Path) -> int:
    """Frame count for containers that don't store one (Matroska/WebM): one packet per frame, no decoding."""
    count = 0
    end = None
    rate = stream.average_rate or stream.guessed_rate
    # a packet without a duration still lasts about one frame
    interval = int(1 / (rate * stream.time_base)) if rate and stream.time_base else 0
    try:
        for packet in container.demux(stream):
            if packet.size:  # the size-0 packet is PyAV's end-of-stream marker
                count += 1
                if packet.pts is not None:
                    end = max(end or 0, packet.pts + (packet.duration or interval))
    except av.error.FFmpegError as exc:
        raise InputError(f"is corrupt after frame {count} ({reason(exc)})", DAMAGED_FIX, path) from exc
    # Without a declared count, a cut-off file only shows as packets ending well before the declared duration.
    # Only trusted when the video is the sole stream: otherwise the duration may be the audio's.
    if count and end is not None and len(container.streams) == 1 and container.duration and stream.time_base:
        declared = container.duration / av.time_base
        have = float((end - (stream.start_time or 0)) * stream.time_base)
        if have < declared * 0.95 - 0.1:
            raise InputError(f"stream ends at {have:.2f} s of {declared:.2f} s declared (truncated file?)",
                             DAMAGED_FIX, path)
    return count


def _check_index_inside_file(stream, declared: int, path: Path) -> None:
    """MP4 keeps the index up front with faststart: a cut-off file then still 'declares' every frame."""
    entries = stream.index_entries
    if len(entries) != declared:
        return  # no per-frame index (or an unusual one): nothing reliable to compare against
    size = path.stat().st_size
    inside = sum(1 for e in entries if e.pos + e.size <= size)
    if inside < declared:
        raise InputError(f"stream ends at frame {inside} of {declared} declared (truncated file?)",
                         DAMAGED_FIX, path)


def _rotation(path: Path) -> int:
    """Clockwise degrees to display upright, read from the first decoded frame.

    PyAV 18 has no stream-level getter for the display matrix; the decoder copies it onto every frame as side
    data and ``VideoFrame.rotation`` reads it as a *counter-clockwise* angle in [-180, 180]. Old files may
    instead carry a clockwise 'rotate' tag.
    """
    with open_video(path) as container:
        stream = video_stream(container, path)
        try:
            frame = next(iter(container.decode(stream)), None)
        except av.error.FFmpegError as exc:
            raise InputError(f"cannot be decoded ({reason(exc)})", DAMAGED_FIX, path) from exc
        if frame is None:
            raise InputError("has no decodable video frames", DAMAGED_FIX, path)
        degrees = -frame.rotation
        if not degrees:
            try:
                degrees = int(float(stream.metadata.get("rotate", 0)))
            except ValueError:
                degrees = 0
    return int(round(degrees / 90)) * 90 % 360


def _looks_like_mp4(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(12)[4:8] == b"ftyp"
    except OSError:
        return False


def reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())  # messages must stay on one line


# ---------------------------------------------------------------- images


def list_images(folder: Path) -> list[Path]:
    """Image files of a folder in natural order (frame2 before frame10), hidden files skipped."""
    try:
        files = [p for p in folder.iterdir()
                 if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".") and p.is_file()]
    except OSError as exc:
        raise InputError(f"cannot be listed ({exc.strerror or exc})", "check the folder's permissions",
                         folder) from exc
    if not files:
        raise InputError("is a folder with no images", f"put {', '.join(IMAGE_EXTS)} files in it, or give a video",
                         folder)
    return sorted(files, key=_natural_key)


def _natural_key(path: Path):
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower())
            for part in re.split(r"(\d+)", path.name) if part]


def read_image(path: Path) -> np.ndarray:
    """HxWx3 uint8 RGB, upright (OpenCV applies EXIF orientation), alpha dropped, 16-bit scaled to 8-bit."""
    try:
        data = np.fromfile(path, dtype=np.uint8)  # not cv2.imread: it can't say why it failed
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror or exc})", "check the file's permissions", path) from exc
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise InputError("is not a readable image (corrupt or unsupported)", "re-export or remove it", path)
    return np.ascontiguousarray(image[:, :, ::-1])


def _probe_images(path: Path, files: list[Path], kind: str, fps: float | None) -> VideoInfo:
    height, width = read_image(files[0]).shape[:2]
    rate = float(fps or DEFAULT_IMAGE_FPS)
    ext = files[0].suffix.lower()
    return VideoInfo(
        path=str(path), kind=kind, frames=len(files), fps=rate, width=width, height=height,
        codec=_IMAGE_CODECS.get(ext, ext[1:]), rotation=0, duration=len(files) / rate,
    )
