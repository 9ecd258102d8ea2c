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


def test_batch_reads_csv_and_jsonl_manifests_with_per_file_options(tmp_path, capsys):
    """A manifest lists the videos (paths relative to it), options for one file only and named outputs; the
    outputs equal the single-file command with the same options. Bad manifests fail in one line, before any work."""
    study = tmp_path / "study"
    (study / "clips").mkdir(parents=True)
    shutil.copy(EXAMPLE, study / "clips" / "a.mp4")
    make_video(study / "clips" / "b.mp4", n=6)
    (study / "m.csv").write_text("input,args,output\nclips/a.mp4,--end 4,first/a_four.npz\nclips/b.mp4,,\n",
                                 encoding="utf-8-sig")
    out = tmp_path / "out"
    assert main(["batch", "track", str(study / "m.csv"), "-o", str(out), "--args", "--every 2", "-q"]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.npz")) == ["b.npz", "first/a_four.npz"]
    assert main(["track", str(study / "clips" / "a.mp4"), "--every", "2", "--end", "4", "-o",
                 str(tmp_path / "single.npz"), "-q"]) == 0
    one, many = read_poses(tmp_path / "single.npz"), read_poses(out / "first" / "a_four.npz")
    assert [len(t) for t in one.tracks] == [len(t) for t in many.tracks] and max(map(len, one.tracks)) == 2
    for a, b in zip(one.tracks, many.tracks):
        np.testing.assert_array_equal(a.keypoints[KEYPOINTS_2D].points, b.keypoints[KEYPOINTS_2D].points)
    (study / "m.jsonl").write_text(json.dumps({"input": "clips/a.mp4", "args": ["--end", "4"]}) + "\n\n"
                                   + json.dumps({"input": str(study / "clips" / "b.mp4")}) + "\n")
    assert main(["batch", "track", str(study / "m.jsonl"), "-o", str(tmp_path / "j"), "--args", "--every 2",
                 "-q"]) == 0
    np.testing.assert_array_equal(read_poses(tmp_path / "j" / "a.npz").tracks[0].keypoints[KEYPOINTS_2D].points,
                                  many.tracks[0].keypoints[KEYPOINTS_2D].points)
    bad = {"no_input.csv": "video,args\nclips/a.mp4,\n", "missing.csv": "input\nclips/nope.mp4\n",
           "sets_o.csv": "input,args\nclips/a.mp4,-o x.npz\n", "escapes.csv": "input,output\nclips/a.mp4,../x.npz\n",
           "broken.jsonl": '{"input": "clips/a.mp4"}\nnot json\n', "empty.csv": "input,args\n"}
    for name, text in bad.items():
        (study / name).write_text(text)
        code = main(["batch", "track", str(study / name), "-o", str(tmp_path / "never")])
        err = capsys.readouterr().err.strip()
        assert code == 1 and len(err.splitlines()) == 1 and err.startswith("posecli: error:"), (name, err)
    assert not (tmp_path / "never").exists()
