"""posecli.video: probe, read_frames and VideoWriter on small clips made here with PyAV."""
from __future__ import annotations

import dataclasses
import json
import os
import tracemalloc
import types
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from posecli.errors import InputError, OutputError, PoseCliError
from posecli.video import Frame, VideoInfo, VideoWriter, probe, read_frames
from posecli.video import reader as reader_module

from helpers import FPS, H, TOL, W, gray, level, make_video  # noqa: E402


def levels(frames: list[Frame]) -> list[float]:
    return [float(f.image.mean()) for f in frames]


# ---------------------------------------------------------------- probe and decode


def test_probe_h264(tmp_path):
    video = make_video(tmp_path / "clip.mp4", n=12)
    info = probe(video)
    assert isinstance(info, VideoInfo)
    assert (info.kind, info.frames, info.fps, info.width, info.height) == ("video", 12, 10.0, W, H)
    assert (info.codec, info.rotation, info.pix_fmt) == ("h264", 0, "yuv420p")
    assert info.duration == pytest.approx(1.2, abs=0.01)
    assert info.path == str(video)
    assert json.loads(json.dumps(info.to_dict()))["frames"] == 12
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.frames = 3


@pytest.mark.parametrize("name, codec, expected_codec", [
    ("h264.mp4", "libx264", "h264"),
    ("vp9.webm", "libvpx-vp9", "vp9"),  # Matroska stores no frame count: counted from packets
    ("vp9.mp4", "libvpx-vp9", "vp9"),
    ("mpeg4.avi", "mpeg4", "mpeg4"),
])
def test_decode_all_frames_in_order(tmp_path, name, codec, expected_codec):
    video = make_video(tmp_path / name, n=15, codec=codec)
    info = probe(video)
    assert (info.frames, info.codec, info.width, info.height) == (15, expected_codec, W, H)
    frames = list(read_frames(video))
    assert [f.index for f in frames] == list(range(15))
    assert [f.time for f in frames] == pytest.approx([i / FPS for i in range(15)], abs=1e-3)
    assert levels(frames) == pytest.approx([level(i) for i in range(15)], abs=TOL)
    for f in frames:
        assert f.image.shape == (H, W, 3) and f.image.dtype == np.uint8 and f.image.flags.c_contiguous


@pytest.mark.parametrize("ccw, clockwise, corner", [
    (-90, 90, (0, -1)),  # a phone held upright: stored landscape, shown turned 90 degrees clockwise
    (90, 270, (-1, 0)),
    (180, 180, (-1, -1)),
])
def test_rotation_metadata_is_applied(tmp_path, ccw, clockwise, corner):
    video = tmp_path / "rotated.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.set_display_rotation(ccw)
        image = np.zeros((H, W, 3), np.uint8)
        image[:16, :16] = 255  # marker in the stored top-left corner
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    info = probe(video)
    assert info.rotation == clockwise
    shape = (W, H, 3) if clockwise in (90, 270) else (H, W, 3)
    assert (info.height, info.width, 3) == shape
    frame = next(read_frames(video))
    assert frame.image.shape == shape and frame.image.flags.c_contiguous
    rows = slice(0, 8) if corner[0] == 0 else slice(-8, None)
    cols = slice(0, 8) if corner[1] == 0 else slice(-8, None)
    assert frame.image[rows, cols].mean() > 200  # the marker landed in the expected corner...
    assert frame.image.mean() < 60  # ...and only there


def test_start_end_every(tmp_path):
    video = make_video(tmp_path / "clip.mp4", n=15)
    frames = list(read_frames(video, start=2, end=11, every=3))
    assert [f.index for f in frames] == [2, 5, 8]
    assert [f.time for f in frames] == pytest.approx([0.2, 0.5, 0.8], abs=1e-3)
    assert levels(frames) == pytest.approx([level(2), level(5), level(8)], abs=TOL)
    assert [f.index for f in read_frames(video, start=13)] == [13, 14]
    assert [f.index for f in read_frames(video, every=7)] == [0, 7, 14]
    assert [f.index for f in read_frames(video, end=100)] == list(range(15))  # end past the last frame: all


def test_stops_decoding_at_end(tmp_path):
    # frames past 60% of the file are destroyed: reading only the start must never touch them
    video = make_video(tmp_path / "tail.mp4", n=20, noise=True, options={"movflags": "+faststart"})
    data = bytearray(video.read_bytes())
    cut = int(len(data) * 0.6)
    data[cut:] = bytes(len(data) - cut)
    video.write_bytes(bytes(data))
    assert [f.index for f in read_frames(video, end=3)] == [0, 1, 2]
    seen = []
    with pytest.raises(InputError, match=r"decoding failed at frame \d+") as err:
        for f in read_frames(video):
            seen.append(f.index)
    assert 3 <= len(seen) < 20
    assert str(video) in str(err.value)


def test_read_frames_streams(tmp_path):
    video = make_video(tmp_path / "long.mp4", n=60, width=320, height=240)
    frames = read_frames(video)
    assert isinstance(frames, types.GeneratorType)
    tracemalloc.start()
    try:
        count = sum(1 for _ in frames)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 60
    assert peak < 5 * 320 * 240 * 3  # a few frames at most, not all 60


@pytest.mark.parametrize("kwargs, option", [
    ({"start": -1}, "start"),
    ({"start": 1.5}, "start"),
    ({"start": 5, "end": 5}, "end"),
    ({"start": 5, "end": 2}, "end"),
    ({"every": 0}, "every"),
    ({"every": -2}, "every"),
    ({"start": 12}, "start"),  # past the last frame
])
def test_bad_options(tmp_path, kwargs, option):
    video = make_video(tmp_path / "clip.mp4", n=12)
    with pytest.raises(PoseCliError, match=rf"^{option}="):
        read_frames(video, **kwargs)


# ---------------------------------------------------------------- images


def write_png(path: Path, rgb: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


def test_image_folder(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(12):  # frame2 must come before frame10: natural order, not string order
        write_png(folder / f"frame{i}.png", gray(i))
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(b"editor junk")
    info = probe(folder)
    assert (info.kind, info.frames, info.fps, info.width, info.height, info.codec) == ("images", 12, 30.0, W, H, "png")
    assert info.duration == pytest.approx(12 / 30)
    frames = list(read_frames(folder, start=1, every=4, fps=10))
    assert [f.index for f in frames] == [1, 5, 9]
    assert [f.time for f in frames] == pytest.approx([0.1, 0.5, 0.9])
    assert levels(frames) == [level(1), level(5), level(9)]  # PNG is lossless
    assert probe(folder, fps=12.5).fps == 12.5


def test_single_image_is_rgb(tmp_path):
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 0] = 200  # pure red: catches a BGR/RGB swap
    image = write_png(tmp_path / "photo.png", rgb)
    info = probe(image)
    assert (info.kind, info.frames, info.width, info.height, info.codec) == ("image", 1, W, H, "png")
    (frame,) = list(read_frames(image))
    assert frame.index == 0 and frame.time == 0.0
    np.testing.assert_array_equal(frame.image, rgb)
    jpg = tmp_path / "photo.JPG"
    assert cv2.imwrite(str(jpg.with_suffix(".jpg")), rgb[:, :, ::-1])
    jpg.with_suffix(".jpg").rename(jpg)
    assert probe(jpg).codec == "jpeg"


def test_images_of_different_sizes(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    write_png(folder / "a.png", gray(0))
    odd = write_png(folder / "b.png", gray(1, width=W + 2))
    with pytest.raises(InputError, match="first image") as err:
        list(read_frames(folder))
    assert str(odd) in str(err.value)


# ---------------------------------------------------------------- writer


def test_writer_round_trip(tmp_path):
    out = tmp_path / "out.mp4"
    with VideoWriter(out, fps=FPS) as writer:
        for i in range(15):
            writer.write(gray(i))
    assert writer.frames == 15
    info = probe(out)
    assert (info.frames, info.width, info.height, info.fps, info.codec) == (15, W, H, 10.0, "h264")
    assert levels(list(read_frames(out))) == pytest.approx([level(i) for i in range(15)], abs=TOL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]  # no temporary left beside it


def test_writer_pads_odd_size(tmp_path):
    out = tmp_path / "odd.mp4"
    image = gray(3, width=65, height=47)
    image[:, -1] = 250  # bright last column: the padding repeats it
    with VideoWriter(out, fps=FPS) as writer:
        for _ in range(3):
            writer.write(image)
    info = probe(out)
    assert (info.width, info.height) == (66, 48)
    frame = next(read_frames(out))
    assert frame.image.shape == (48, 66, 3)
    assert frame.image[:, -1].mean() > 200 and frame.image[-1, :-4].mean() == pytest.approx(level(3), abs=TOL)


def test_writer_ntsc_rate(tmp_path):
    out = tmp_path / "ntsc.mp4"
    with VideoWriter(out, fps=30000 / 1001) as writer:
        assert writer.rate == Fraction(30000, 1001)
        for i in range(5):
            writer.write(gray(i))
    assert probe(out).fps == pytest.approx(29.97, abs=0.01)


def test_writer_exception_leaves_nothing(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(out, fps=FPS) as writer:
            for i in range(5):
                writer.write(gray(i))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_writer_bad_frame_leaves_nothing(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(ValueError, match="uint8"):
        with VideoWriter(out, fps=FPS) as writer:
            writer.write(gray(0))
            writer.write(gray(1).astype(np.float32))
    assert list(tmp_path.iterdir()) == []


def test_writer_no_frames(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(OutputError, match="no frames") as err:
        with VideoWriter(out, fps=FPS):
            pass
    assert str(out) in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_writer_unwritable_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores the mode bits: use a missing directory instead
            target = tmp_path / "missing" / "out.mp4"
        else:
            target = locked / "out.mp4"
        with pytest.raises(OutputError) as err:
            VideoWriter(target, fps=FPS)  # fails at construction, before any encoding
        assert str(target) in str(err.value)
    finally:
        locked.chmod(0o700)
    assert not target.exists()


def test_writer_bad_arguments(tmp_path):
    with pytest.raises(PoseCliError, match="fps"):
        VideoWriter(tmp_path / "out.mp4", fps=0)
    with pytest.raises(PoseCliError, match="codec"):
        VideoWriter(tmp_path / "out.mp4", fps=FPS, codec="no-such-codec")
    with pytest.raises(OutputError, match="cannot write a .xyz video"):
        VideoWriter(tmp_path / "out.xyz", fps=FPS)  # refused by name, before any work
    with pytest.raises(OutputError, match="an image holds one frame"):
        VideoWriter(tmp_path / "out.png", fps=FPS)
    with pytest.raises(OutputError, match="cannot be created as a video"):  # a codec FFmpeg cannot put there
        with VideoWriter(tmp_path / "out.xyz", fps=FPS, codec="libvpx-vp9") as writer:
            writer.write(gray(0))
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- bad input


def assert_input_error(path: Path, match: str, *, via_read: bool = True) -> None:
    """Both probe() and read_frames() reject ``path`` with a one-line InputError that names it."""
    calls = [probe, lambda p: list(read_frames(p))] if via_read else [probe]
    for call in calls:
        with pytest.raises(InputError, match=match) as err:
            call(path)
        message = str(err.value)
        assert str(path) in message and "\n" not in message


def test_missing_file(tmp_path):
    assert_input_error(tmp_path / "nope.mp4", "does not exist")


def test_directory_without_images(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "readme.txt").write_text("hi")
    assert_input_error(folder, "no images")


def test_text_file_named_mp4(tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_text("this is not a video\n" * 20)
    assert_input_error(fake, "not a video")


def test_empty_file(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert_input_error(empty, "empty")


def test_truncated_mp4_without_index(tmp_path):
    video = make_video(tmp_path / "cut.mp4", n=20, noise=True)  # index (moov) written last: cut away
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    assert_input_error(video, "truncated")


def test_truncated_mp4_with_index(tmp_path):
    video = make_video(tmp_path / "cut.mp4", n=20, noise=True, options={"movflags": "+faststart"})
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])  # index intact, it still declares 20 frames
    assert_input_error(video, r"stream ends at frame \d+ of 20 declared \(truncated file\?\)")


def test_truncated_webm(tmp_path):
    video = make_video(tmp_path / "cut.webm", n=20, codec="libvpx-vp9", noise=True)
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    assert_input_error(video, "truncated")


def test_stream_shorter_than_declared(tmp_path, monkeypatch):
    # A container that promises more frames than its stream holds, and ends without any decoding error.
    video = make_video(tmp_path / "short.mp4", n=12)

    def overstated(path, fps=None):
        return dataclasses.replace(probe(path, fps), frames=17)

    monkeypatch.setattr(reader_module, "probe", overstated)
    frames = read_frames(video)
    with pytest.raises(InputError, match=r"stream ends at frame 12 of 17 declared \(truncated file\?\)") as err:
        list(frames)
    assert str(video) in str(err.value)
    assert len(list(read_frames(video, end=12))) == 12  # the frames asked for are all there: no error


def test_zero_frame_video(tmp_path):
    video = tmp_path / "zero.avi"  # AVI keeps an empty video track (MP4 drops it)
    with av.open(str(video), "w") as container:
        stream = container.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        container.start_encoding()
    assert len(av.open(str(video)).streams.video) == 1
    assert_input_error(video, "has no video frames")


def test_audio_only(tmp_path):
    audio = tmp_path / "sound.m4a"
    with av.open(str(audio), "w") as container:
        stream = container.add_stream("aac", rate=16000, layout="mono")
        for _ in range(5):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 16000
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    assert_input_error(audio, "no video stream")


def test_corrupt_image(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    assert_input_error(bad, "not a readable image")
    folder = tmp_path / "frames"
    folder.mkdir()
    write_png(folder / "0001.png", gray(0))
    broken = folder / "0002.png"
    broken.write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a readable image") as err:
        list(read_frames(folder))
    assert str(broken) in str(err.value)
