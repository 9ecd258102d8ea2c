"""The command line as users meet it: exit codes, one-line errors, no partial outputs, real runs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from helpers import FPS, H, W, make_video

from posecli.cli import main
from posecli.formats import read_poses, write_poses
from posecli.poses import KEYPOINTS_2D, KEYPOINTS_3D, Keypoints, Poses, Track

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "balance_cam01.mp4"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def small_poses() -> Poses:
    pts = np.random.default_rng(0).uniform(0, 50, (3, 17, 2))
    return Poses([Track(1, [0, 1, 2], [0, 0.1, 0.2], {KEYPOINTS_2D: Keypoints("coco17", pts)})], fps=10.0)


# ---- bad inputs: one clean line, exit 1, nothing written ----

def _truncated(tmp: Path) -> Path:
    good = make_video(tmp / "good.mp4", n=30, noise=True)
    raw = good.read_bytes()
    (tmp / "cut.mp4").write_bytes(raw[: len(raw) // 2])
    return tmp / "cut.mp4"


def _zero_frames(tmp: Path) -> Path:
    path = tmp / "zero.avi"
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=FPS)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        c.start_encoding()
    return path


def _wrong_keys(tmp: Path) -> Path:
    np.savez(tmp / "wrong.npz", foo=np.zeros(3))
    return tmp / "wrong.npz"


def _nan_npz(tmp: Path) -> Path:
    write_poses(small_poses(), tmp / "ok.npz")
    with np.load(tmp / "ok.npz") as z:
        data = dict(z)
    data["tracks/1/keypoints/keypoints2d/points"][1, 4] = np.nan  # confidence stays 1
    np.savez(tmp / "nan.npz", **data)
    return tmp / "nan.npz"


BAD_INPUTS = {
    "missing": (lambda tmp: tmp / "nope.mp4", "does not exist"),
    "directory": (lambda tmp: tmp, "no images"),
    "text_as_mp4": (lambda tmp: (tmp / "notes.mp4").write_text("hello") and tmp / "notes.mp4", "not a video"),
    "truncated": (_truncated, "truncated"),
    "zero_frames": (_zero_frames, "no video frames"),
    "wrong_npz": (_wrong_keys, "not a posecli pose file"),
    "nan_npz": (_nan_npz, "NaN coordinates"),
}


@pytest.mark.parametrize(("command", "case"), [("info", c) for c in BAD_INPUTS] +
                         [("track", c) for c in BAD_INPUTS if not c.endswith("npz")])  # track reads videos
def test_bad_input_gives_one_line(tmp_path, capsys, command, case):
    make, expected = BAD_INPUTS[case]
    src = tmp_path / "in"
    src.mkdir()
    path = make(src)
    out = tmp_path / "out.npz"
    args = ["info", path] if command == "info" else ["track", path, "-o", out, "-q"]
    code, stdout, err = run(capsys, *args)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith("posecli: error: "), err
    assert expected in lines[0] and path.name in lines[0]
    assert "Traceback" not in err and stdout == ""
    assert not out.exists() and not list(tmp_path.glob(".*part*"))


def test_unwritable_output_fails_before_work(tmp_path, capsys):
    code, _, err = run(capsys, "track", EXAMPLE, "-o", tmp_path / "missing" / "t.npz")
    assert code == 1 and "output directory does not exist" in err and "mkdir -p" in err


def test_debug_shows_traceback(tmp_path, capsys):
    code, _, err = run(capsys, "info", tmp_path / "nope.mp4", "--debug")
    assert code == 1 and "Traceback" in err and "posecli: error:" in err


def test_usage_error_exits_2(capsys):
    code, _, err = run(capsys, "info", "--no-such-option")
    assert code == 2 and "No such option" in err


def test_version_through_the_installed_entry_point():
    res = subprocess.run([sys.executable, "-m", "posecli", "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("posecli 0.")


# ---- info ----

def test_track_does_not_import_torch(tmp_path):
    # torch's import is most of the start-up time of every posecli call (1.6 of 2.4 s); `track` with BlazePose's
    # own models does not need it, which a user running it over many short clips feels
    code = ("import sys; from posecli.entry import main; sys.argv = ['posecli', 'track', sys.argv[1], '-o', "
            "sys.argv[2], '--end', '3', '-q']\ntry:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('torch' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code, str(EXAMPLE), str(tmp_path / "t.npz")], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"
    assert (tmp_path / "t.npz").is_file()


def test_info_video_json(tmp_path, capsys):
    video = make_video(tmp_path / "clip.mp4", n=12)
    code, out, _ = run(capsys, "info", video, "--json")
    d = json.loads(out)
    assert code == 0 and (d["frames"], d["fps"], d["width"], d["height"], d["codec"]) == (12, FPS, W, H, "h264")


def test_info_pose_file_json(tmp_path, capsys):
    write_poses(small_poses(), tmp_path / "p.npz")
    code, out, _ = run(capsys, "info", tmp_path / "p.npz", "--json")
    d = json.loads(out)
    assert code == 0 and d["tracks"] == [{"id": 1, "frames": 3, "first_frame": 0, "last_frame": 2,
                                          "joint_set": "coco17", "fields": ["keypoints2d (coco17, 2D)"]}]


def test_info_lists_the_shot_cuts_track_found(tmp_path, capsys):
    from dataclasses import replace

    write_poses(replace(small_poses(), meta={"shot_cuts": [50, 100], "light_changes": [70]}), tmp_path / "p.npz")
    code, out, _ = run(capsys, "info", tmp_path / "p.npz", "--json")
    assert code == 0 and json.loads(out)["shot_cuts"] == [50, 100] and json.loads(out)["light_changes"] == [70]
    code, out, _ = run(capsys, "info", tmp_path / "p.npz")
    assert code == 0 and "shot cuts: 50, 100" in out and "light: 70" in out


def test_info_human_readable(tmp_path, capsys):
    code, out, _ = run(capsys, "info", make_video(tmp_path / "clip.mp4", n=5))
    assert code == 0 and "frames: 5" in out and "codec: h264" in out


# ---- export ----

def test_export_round_trip_through_cli(tmp_path, capsys):
    write_poses(small_poses(), tmp_path / "p.npz")
    assert run(capsys, "export", tmp_path / "p.npz", "--to", "coco-json", "-o", tmp_path / "k.json", "-q")[0] == 0
    back = read_poses(tmp_path / "k.json", fps=10)
    np.testing.assert_allclose(back.tracks[0].keypoints[KEYPOINTS_2D].points,
                               small_poses().tracks[0].keypoints[KEYPOINTS_2D].points, atol=1e-3)
    code, _, err = run(capsys, "export", tmp_path / "p.npz", "--to", "bogus", "-o", tmp_path / "x.bin")
    assert code == 2 and "--to" in err and "coco-json" in err  # a usage error listing the choices


# ---- track on the bundled real clip ----

def test_track_example_clip(tmp_path, capsys):
    code, _, err = run(capsys, "track", EXAMPLE, "-o", tmp_path / "t.npz", "--end", "12", "--lost-frames", "7", "-q")
    assert code == 0, err
    poses = read_poses(tmp_path / "t.npz")
    assert (poses.width, poses.height, poses.fps) == (1080, 1920, 60.0)
    # the schedules are in seconds of video (a third of a second, one second) at the clip's 60 fps; asked: in frames
    assert poses.meta["backend_settings"] == {"detect_every": 20, "pyramid_every": 60, "pyramid_levels": "auto",
                                              "lost_frames": 7, "max_persons": None,
                                              "new_flag": 0.9, "pyramid_backoff": 4}
    # the balancing man, and the woman standing in the background at the left (a fifth of the frame tall)
    assert len(poses.tracks) == 2
    heights = [np.median(np.ptp(t.keypoints[KEYPOINTS_2D].points[..., 1], axis=1)) for t in poses.tracks]
    assert heights[0] > 600 and 200 < heights[1] < 500 and poses.tracks[1].keypoints[KEYPOINTS_2D].points[..., 0].max() < 250
    t = poses.tracks[0]
    assert t.frames.tolist() == list(range(12))
    kp = t.keypoints[KEYPOINTS_2D]
    assert kp.joint_set == "coco17" and (kp.confidence[:, 5:7] > 0.5).all()  # shoulders seen
    x, y = kp.points[..., 0], kp.points[..., 1]
    assert (0 < x).all() and (x < 1080).all() and (0 < y).all() and (y < 1920).all()
    # A standing person: ankles well below the nose, the person several hundred pixels tall.
    assert (kp.points[:, 15:17, 1].mean(1) - kp.points[:, 0, 1] > 500).all()
    world = t.keypoints["blazepose_world"].points
    assert np.abs(world).max() < 1.5  # metres from the hips


def test_track_coco_json_output(tmp_path, capsys):
    code, _, _ = run(capsys, "track", EXAMPLE, "-o", tmp_path / "k.json", "--format", "json", "--end", "6",
                     "--every", "2", "--min-frames", "1", "-q")
    doc = json.loads((tmp_path / "k.json").read_text())
    frames = {tid: [d["image_id"] for d in doc if d["track_id"] == tid] for tid in (1, 2)}
    assert code == 0 and frames == {1: [0, 2, 4], 2: [0, 2, 4]}  # the man, the woman in the background
    assert len(doc[0]["keypoints"]) == 51


def test_track_nobody_in_view_is_an_empty_result(tmp_path, capsys):
    video = make_video(tmp_path / "empty_room.mp4", n=8, width=128, height=96)
    code, _, err = run(capsys, "track", video, "-o", tmp_path / "t.npz")
    assert code == 0 and "nobody was found" in err
    poses = read_poses(tmp_path / "t.npz")
    assert poses.tracks == [] and poses.num_frames == 8 and (poses.width, poses.height) == (128, 96)


def test_ctrl_c_exits_130_and_leaves_no_file(tmp_path):
    import signal
    import time

    import av

    # The bundled clip played four times (400 frames): tracking it outlasts the 2.5 s wait on a fast machine
    # (the 100-frame clip alone takes ~2.6 s on an idle 2-core one).
    src_dir, work = tmp_path / "src", tmp_path / "work"
    src_dir.mkdir()
    work.mkdir()
    long_clip = src_dir / "long.mp4"
    with av.open(str(EXAMPLE)) as inp, av.open(str(long_clip), "w") as outp:
        frames = [f.to_ndarray(format="rgb24")[::3, ::3] for f in inp.decode(video=0)]
        stream = outp.add_stream("libx264", rate=30)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for img in frames * 4:
            outp.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")))
        outp.mux(stream.encode())
    out = work / "t.npz"
    proc = subprocess.Popen([sys.executable, "-m", "posecli", "track", str(long_clip), "-o", str(out), "-q"],
                            stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)  # models loaded, frames being processed
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert not out.exists() and not list(work.iterdir())


def test_estimate_refuses_a_pose_file_without_2d(tmp_path, capsys):
    pts = np.zeros((3, 17, 3))
    write_poses(Poses([Track(1, [0, 1, 2], [0, 0.1, 0.2], {KEYPOINTS_3D: Keypoints("h36m17", pts)})], fps=10.0),
                tmp_path / "only3d.npz")
    code, _, err = run(capsys, "estimate", tmp_path / "only3d.npz", "-o", tmp_path / "out.npz")
    assert code == 1 and "no 2D keypoints" in err and not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize(("device", "words"), [("bogus", "not a torch device"), ("meta", "cpu, cuda or mps"),
                                              ("cuda:99", "cuda"), ("cuda", "cuda")])
def test_unusable_device_is_one_line_before_any_work(tmp_path, capsys, device, words):
    import torch

    if device.startswith("cuda") and torch.cuda.is_available() and device != "cuda:99":
        pytest.skip("this machine has CUDA")
    out = tmp_path / "p.npz"
    code, _, err = run(capsys, "estimate", str(EXAMPLE), "--device", device, "-o", str(out))
    assert code == 1 and words in err.lower() and "internal error" not in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_device_auto_picks_what_is_there():
    import torch

    from posecli.cli.options import check_device

    assert check_device("auto") == ("cuda" if torch.cuda.is_available() else
                                    "mps" if torch.backends.mps.is_available() else "cpu")
    assert check_device("cpu") == "cpu"


def test_warnings_and_notes_are_not_wrapped_in_logs(capsys):
    """stderr that is not a terminal (a log file, grep) gets each message on one line, not cut at 80 columns."""
    from posecli.console import note, set_quiet, warn

    set_quiet(False)
    long = " ".join(f"word{i}" for i in range(40))
    warn(long)
    note(long)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"posecli: warning: {long}", long]


def test_output_where_no_file_can_be_made_fails_before_the_work(tmp_path, capsys):
    import os

    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc on this system")
    code, _, err = run(capsys, "track", str(EXAMPLE), "-o", "/proc/x.npz")
    assert code == 1 and "cannot create files in /proc" in err and "internal error" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("backend", ["mediapipe-single", "blazepose"])
def test_quiet_means_nothing_on_stderr_not_even_from_native_libraries(tmp_path, backend):
    """TFLite and absl write setup lines straight to file descriptor 2; --quiet must still be silent."""
    proc = subprocess.run([sys.executable, "-m", "posecli", "track", str(EXAMPLE), "--backend", backend, "--end", "4",
                           "-o", str(tmp_path / "t.npz"), "--quiet"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "" and proc.stdout == ""
    assert (tmp_path / "t.npz").is_file()


HELP_PAGES = [[], ["track"], ["estimate"], ["export"], ["render"], ["align"], ["complete"], ["embed"], ["synth"],
              ["data"], ["data", "prepare"], ["train"], ["train", "estimate"], ["batch"]]


@pytest.mark.parametrize("page", HELP_PAGES, ids=lambda p: " ".join(p) or "posecli")
def test_help_pages_have_examples_and_flags_take_no_placeholder(page):
    proc = subprocess.run([sys.executable, "-m", "posecli", *page, "--help"], capture_output=True, text=True,
                          timeout=60, env={**__import__("os").environ, "COLUMNS": "120"})
    assert proc.returncode == 0, proc.stderr
    assert "Examples:" in proc.stdout
    assert "<bool>" not in proc.stdout  # on/off flags take no value


def test_messages_count_in_words(tmp_path, capsys):
    """'1 frame', not '1 frames'; a duration rounded; no rate for a single item."""
    code, _, err = run(capsys, "track", EXAMPLE, "--end", "1", "--max-persons", "1", "-o", tmp_path / "t.npz")
    assert code == 0 and "1 track: id 1: 1 frame" in err and "1 frames" not in err
    code, out, _ = run(capsys, "info", tmp_path / "t.npz")
    assert code == 0 and "1 frame (frame 0)" in out
    code, out, _ = run(capsys, "info", EXAMPLE)
    assert code == 0 and "duration: 1.667" in out


def test_shell_pipelines_with_dash(tmp_path):
    """-o - writes to stdout, - reads from stdin; progress and notes stay on stderr."""
    py = sys.executable
    proc = subprocess.run(f"{py} -m posecli track {EXAMPLE} --end 4 --max-persons 1 -o - -q | "
                          f"{py} -m posecli estimate - -o {tmp_path / 'p.npz'} -q",
                          shell=True, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    poses = read_poses(tmp_path / "p.npz")
    assert len(poses.tracks) == 1 and poses.tracks[0].frames.tolist() == [0, 1, 2, 3]
    assert KEYPOINTS_3D in poses.tracks[0].keypoints
    proc = subprocess.run([py, "-m", "posecli", "estimate", str(tmp_path / "p.npz"), "-o", "-", "--format", "json"],
                          capture_output=True, text=True, timeout=180)
    doc = json.loads(proc.stdout)  # nothing but the JSON on stdout
    assert proc.returncode == 0 and len(doc["tracks"]) == 1 and "wrote stdout" in proc.stderr
    proc = subprocess.run([py, "-m", "posecli", "estimate", "-", "-o", str(tmp_path / "x.npz")], input="",
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "standard input is empty" in proc.stderr
    assert not (tmp_path / "x.npz").exists()
