"""``track`` on the MOT renders with a perfect person detector in place of BlazePose's (JSON, as track_mot.py).

``bench/track_ceiling.py`` bounds what the landmark model can find on perfect regions, frame by frame. This runs
the whole tracker with BlazePose's detector replaced by one that reads the render's truth: on every pass it
returns each counted person (at least 5 joints visible) with the keypoints BlazePose's detector gives (hip centre,
a point on the circle around the body towards the shoulders at ``MARGIN`` times the farthest joint, the shoulder
centre), a whole-frame pass returning everyone and a pass on a square those whose hip centre lies in it. Everything
else is today's tracker: when the detector runs, the landmark passes, the gates, the identity passes. So the row
printed is what `track` would score if its detector missed nobody and fired on nothing else, and the gap between
it and today's row is what the detector costs.

    python bench/track_perfect_detector.py [--small|--cuts] [--data DIR]   # after bench/track_mot.py made the scenes
    python bench/track_perfect_detector.py --detect-every 1                 # the whole-frame pass on every frame
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import track_mot as tm  # noqa: E402
from track_ceiling import truth_points  # noqa: E402

MARGIN = 1.1  # the best margin of track_ceiling.py on training renders (docs/benchmarks.md, session 31)
LABEL = "perfect-detector"


class TruthDetector:
    """BlazePose's detector interface (``detect``, ``detect_in``) answered from the render's truth."""

    def __init__(self, people_at: dict[int, list[dict]]):
        self.people_at = people_at
        self.frame = 0

    def _found(self) -> list:
        from posecli.detect.detector import Detection

        found = []
        for p in self.people_at.get(self.frame, []):
            said = None if p["ignored"] else truth_points(p, MARGIN)
            if said is None:
                continue
            hip, scale_point, shoulders, radius = said
            points = np.array([hip, scale_point, shoulders, shoulders + 0.5 * (scale_point - hip)])
            head = p["keypoints"][:5]
            head = head[np.isfinite(head).all(-1)] if np.isfinite(head).all(-1).any() else shoulders[None]
            box = np.r_[head.min(0) - 0.1 * radius, head.max(0) + 0.1 * radius]
            found.append(Detection(1.0, box, points))
        return found

    def detect(self, image, tiled: bool = False, levels: int = 1) -> list:
        return self._found()

    def detect_in(self, image, region) -> list:
        half = region.size / 2
        return [d for d in self._found() if abs(d.keypoints[0][0] - region.cx) <= half
                and abs(d.keypoints[0][1] - region.cy) <= half]


def track_view(video: Path, truth_file: Path, result: Path, detect_every: int | None = None) -> None:
    """Today's tracker on one view with the truth detector; writes the output and its wall time as track_mot does."""
    import time

    from posecli.formats import read_poses, write_poses
    from posecli.track.backends import BlazePoseBackend
    from posecli.track.pipeline import TrackOptions, track_video

    detector = TruthDetector(tm.truth_frames(read_poses(truth_file)))
    backend = BlazePoseBackend(detect_every=detect_every)
    backend.model.detector = detector
    persons = backend.persons

    def persons_now(image):
        detector.frame = backend._frame + 1  # the frame ``persons`` is about to count
        return persons(image)

    backend.persons = persons_now
    start = time.perf_counter()
    poses = track_video(video, backend, TrackOptions())
    seconds = time.perf_counter() - start
    write_poses(poses, result)
    result.with_suffix(".seconds").write_text(f"{seconds:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=tm.DATA, help="scene folder (as bench/track_mot.py's --data)")
    ap.add_argument("--small", action="store_true", help="the small-people scenes")
    ap.add_argument("--cuts", action="store_true", help="the edited clips (hard cuts between the two cameras)")
    ap.add_argument("--detect-every", type=int, help="the whole-frame pass every N frames (default: track's)")
    args = ap.parse_args()
    if args.cuts:
        scenes = [args.data / tm.CUT_SCENE]
    else:
        scenes = [args.data / s for s in (tm.SMALL_SCENES if args.small else tm.SCENES)]
    for folder in scenes:
        if not (folder / "manifest.json").is_file():
            sys.exit(f"bench: {folder} has no scenes (run bench/track_mot.py first)")
    out = args.data / "results"
    label = LABEL + (f"-every-{args.detect_every}" if args.detect_every else "")
    for folder in scenes:
        for video, truth_file in tm.views(folder):
            name = f"{folder.name}/{video.parent.name}/{video.stem}"
            result = out / label / f"{name.replace('/', '_')}.npz"
            result.parent.mkdir(parents=True, exist_ok=True)
            track_view(video, truth_file, result, args.detect_every)
    # scored exactly as track_mot.py scores its trackers (the outputs just written are read back, not rerun)
    print(json.dumps(tm.evaluate(scenes, label, tm.ROOT, [], out, cached=True)))


if __name__ == "__main__":
    main()
