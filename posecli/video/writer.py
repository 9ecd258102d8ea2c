"""Encode RGB frames to a video file that appears only once it is complete."""
from __future__ import annotations

import math
import numbers
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..atomic import atomic_path, check_writable
from ..errors import OutputError, PoseCliError
from .probe import reason

# Encoders whose quality is set with a constant rate factor; the others keep their default bit rate.
_CRF_CODECS = {"libx264", "libx265"}
# Containers that take the H.264 stream posecli writes; anything else fails inside FFmpeg after work is done.
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv"}
STILL_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def check_video_name(path: str | Path, still_fix: str = "render one frame with --frame N") -> Path:
    """A video output name posecli can write (before any work), else one clear ``OutputError``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in STILL_SUFFIXES:
        raise OutputError("an image holds one frame, not a video", f"{still_fix}, or give -o NAME.mp4", path)
    if suffix not in VIDEO_SUFFIXES:
        raise OutputError(f"cannot write a {suffix or 'suffix-less'} video (H.264 goes into "
                          f"{', '.join(sorted(VIDEO_SUFFIXES))})", "give -o NAME.mp4", path)
    return path


# Chroma subsampled by two horizontally (and for 4:2:0 vertically) cannot hold an odd size.
_EVEN_SIZE_PREFIXES = ("yuv420", "yuvj420", "yuv422", "yuvj422", "nv12", "nv21", "nv16")


class VideoWriter:
    """``with VideoWriter("out.mp4", fps=30) as w: w.write(rgb)`` - streaming encode, size from the first frame.

    Odd sizes are padded by one edge pixel for 4:2:0/4:2:2 formats. The file is encoded under a temporary name
    beside ``path`` and renamed onto it only when the block ends without error, so a failure leaves nothing.
    """

    def __init__(self, path: str | Path, fps: float, codec: str = "libx264", crf: int = 20,
                 pix_fmt: str = "yuv420p"):
        if codec == "libx264":
            check_video_name(path, "write the frames as images yourself")
        self.path = check_writable(path)  # before any encoding work, not after it
        if not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
            raise PoseCliError(f"fps={fps!r} is not a positive number", "give a frame rate such as 30")
        try:
            av.codec.Codec(codec, "w")
        except (ValueError, av.error.FFmpegError) as exc:
            raise PoseCliError(f"video codec {codec!r} is not available", "use libx264") from exc
        # 1001 keeps NTSC rates exact (29.97 -> 30000/1001) instead of a huge denominator
        self.rate = Fraction(fps).limit_denominator(1001)
        self.codec = codec
        self.crf = crf
        self.pix_fmt = pix_fmt
        self.frames = 0
        self._atomic = None
        self._container = None
        self._stream = None
        self._size = None  # (height, width) of the caller's frames, before padding

    def __enter__(self) -> VideoWriter:
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        try:
            self._container = av.open(str(tmp), "w")
        except (av.error.FFmpegError, OSError, ValueError) as exc:  # ValueError: unknown extension
            self._atomic.__exit__(type(exc), exc, exc.__traceback__)
            raise OutputError(f"cannot be created as a video ({reason(exc)})", "give a name ending in .mp4",
                              self.path) from exc
        return self

    def write(self, image: np.ndarray) -> None:
        if self._container is None:
            raise RuntimeError("VideoWriter.write() outside its with-block")
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.dtype} {image.shape}")
        if self._stream is None:
            self._open_stream(image.shape[:2])
        elif image.shape[:2] != self._size:
            raise ValueError(f"frame {self.frames} is {image.shape[1]}x{image.shape[0]}, "
                             f"but the video is {self._size[1]}x{self._size[0]}")
        pad_h = self._stream.height - image.shape[0]
        pad_w = self._stream.width - image.shape[1]
        if pad_h or pad_w:
            image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts = self.frames
        frame.time_base = 1 / self.rate
        self._encode(frame)
        self.frames += 1

    def _open_stream(self, size: tuple[int, int]) -> None:
        height, width = size
        if self.pix_fmt.startswith(_EVEN_SIZE_PREFIXES):
            height, width = height + height % 2, width + width % 2
        options = {"crf": str(self.crf)} if self.codec in _CRF_CODECS else {}
        stream = self._container.add_stream(self.codec, rate=self.rate, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, self.pix_fmt
        stream.codec_context.time_base = 1 / self.rate
        self._stream = stream
        self._size = size

    def _encode(self, frame) -> None:
        try:
            self._container.mux(self._stream.encode(frame))
        except (av.error.FFmpegError, OSError) as exc:
            raise OutputError(f"writing failed at frame {self.frames} ({reason(exc)})",
                              "check free disk space", self.path) from exc

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self._abort(exc)
            return False
        try:
            if self.frames == 0:
                raise OutputError("no frames were written", "nothing to save: check the input", self.path)
            self._encode(None)  # flush: the encoder holds back its last frames
            try:
                self._container.close()  # writes the index; only now is the file playable
            except (av.error.FFmpegError, OSError) as exc:
                raise OutputError(f"cannot be finished ({reason(exc)})", "check free disk space", self.path) from exc
        except BaseException as failure:
            self._abort(failure)
            raise
        self._container = None
        self._atomic.__exit__(None, None, None)
        return False

    def _abort(self, error: BaseException) -> None:
        container, self._container = self._container, None
        try:
            container.close()
        except Exception:
            pass  # the block has already failed: its error is the one to report, not one from closing
        self._atomic.__exit__(type(error), error, error.__traceback__)  # removes the temporary file
