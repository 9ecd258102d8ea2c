"""posecli batch: one process per file, failures isolated and reported, reruns skip finished outputs."""
import json
import shutil
from pathlib import Path

import numpy as np
from helpers import make_video

from posecli.cli import main
from posecli.formats import read_poses
from posecli.poses import KEYPOINTS_2D

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "balance_cam01.mp4"


def test_batch_isolates_a_corrupt_video_matches_single_runs_and_resumes(tmp_path, capsys):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(EXAMPLE, src / "a.mp4")
    make_video(src / "sub" / "b.mp4", n=6)  # grey frames: nobody, a valid empty result
    (src / "bad.mp4").write_bytes(EXAMPLE.read_bytes()[:4000])  # cut off: no index
    out = tmp_path / "out"
    code = main(["batch", "track", str(src), "-o", str(out), "--workers", "2", "--args", "--end 6", "-q"])
    assert code == 1  # one file failed
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.npz")) == ["a.npz", "sub/b.npz"]
    failed = json.loads((out / "failures.json").read_text())["failed"]
    assert [Path(f["input"]).name for f in failed] == ["bad.mp4"] and "posecli: error:" in failed[0]["error"]
    # the same as the single-file command
    assert main(["track", str(src / "a.mp4"), "--end", "6", "-o", str(tmp_path / "single.npz"), "-q"]) == 0
    one, many = read_poses(tmp_path / "single.npz"), read_poses(out / "a.npz")
    assert [t.id for t in one.tracks] == [t.id for t in many.tracks]
    for a, b in zip(one.tracks, many.tracks):
        np.testing.assert_array_equal(a.keypoints[KEYPOINTS_2D].points, b.keypoints[KEYPOINTS_2D].points)
    assert read_poses(out / "sub" / "b.npz").tracks == []
    # a rerun redoes nothing that is finished, and tries the failed file again
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.npz")}
    assert main(["batch", "track", str(src), "-o", str(out), "--args", "--end 6", "-q"]) == 1
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.npz")} == stamps
    capsys.readouterr()


def test_batch_refuses_an_unknown_step_and_an_output_in_args(tmp_path, capsys):
    make_video(tmp_path / "v.mp4", n=3)
    shutil.copy(tmp_path / "v.mp4", tmp_path / "v.mov")  # the same output name as v.mp4
    for args in (["batch", "dance", str(tmp_path / "v.mp4"), "-o", str(tmp_path / "o")],
                 ["batch", "track", str(tmp_path / "v.mp4"), "-o", str(tmp_path / "o"), "--args", "-o x.npz"],
                 ["batch", "track", str(tmp_path / "nothing"), "-o", str(tmp_path / "o")],
                 ["batch", "track", str(tmp_path / "v.mp4"), "-o", str(tmp_path / "o"), "--address", "auto"],
                 ["batch", "track", str(tmp_path / "v.mp4"), str(tmp_path / "v.mov"), "-o", str(tmp_path / "o")]):
        code = main(args)
        err = capsys.readouterr().err.strip()
        assert code == 1 and len(err.splitlines()) == 1 and err.startswith("posecli: error:"), (args, err)


def test_batch_on_a_local_ray_instance_gives_the_same_outputs(tmp_path, capsys):
    """--engine ray: one Ray task per video on a real local Ray instance (started and stopped by the run)."""
    import pytest

    pytest.importorskip("ray", reason="ray is installed by the test extra; run pip install -e '.[test]'")
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(EXAMPLE, src / "a.mp4")
    make_video(src / "b.mp4", n=6)
    (src / "bad.mp4").write_bytes(EXAMPLE.read_bytes()[:4000])
    assert main(["batch", "track", str(src), "-o", str(tmp_path / "ray"), "--engine", "ray", "--workers", "2",
                 "--args", "--end 4", "-q"]) == 1
    assert main(["batch", "track", str(src), "-o", str(tmp_path / "local"), "--args", "--end 4", "-q"]) == 1
    for name in ("a.npz", "b.npz"):
        ray_out, local_out = read_poses(tmp_path / "ray" / name), read_poses(tmp_path / "local" / name)
        assert [t.id for t in ray_out.tracks] == [t.id for t in local_out.tracks]
        for a, b in zip(ray_out.tracks, local_out.tracks):
            np.testing.assert_array_equal(a.keypoints[KEYPOINTS_2D].points, b.keypoints[KEYPOINTS_2D].points)
    failed = json.loads((tmp_path / "ray" / "failures.json").read_text())["failed"]
    assert [Path(f["input"]).name for f in failed] == ["bad.mp4"]
    assert capsys.readouterr().err == ""  # -q: not even Ray's own start-up lines
