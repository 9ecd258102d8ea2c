"""The render loop and the dataset on disk: clips of N synchronised views with exact truth, one manifest.

Layout of ``OUT/``::

    manifest.json                 options, and per clip: mocap sources, people, cameras, files
    clip_0000/calibration.toml    Pose2Sim calibration of the rig (first frame's extrinsics)
    clip_0000/cam_01.mp4          H.264, one per view
    clip_0000/cam_01.npz          posecli pose file: one track per person (see ``view_poses``)

Determinism and resuming: clip k draws everything from ``SeedSequence([seed, k])``, so a clip is the same
whether it was made in one run or after an interruption. A clip is rendered into ``.clip_k.part/`` and renamed
when complete; the manifest is rewritten (atomically) after each clip. A rerun with the same options skips the
clips the manifest lists; a larger ``--clips`` extends the dataset.

Choices the spec leaves open:
- People: each performs a random window of ``frames`` frames of a random mocap sequence (at its 30 fps, or
  every ``step``-th frame of it at 30 / step fps: image datasets want fewer near-duplicate frames),
  turned to a random heading; layout ``ring``: the first stands at the origin, the others on a ring 1.2-2.2 m
  around it; layout ``crossing`` (made for tracking benchmarks): people who travel (> 1 m in the window) have
  the middle of their path near the centre, so walkers cross each other's paths and occlude each other at
  different instants, while people who stay in place stand on a ring 1.5-3 m out (not inside each other).
- Pixel convention: ``posecli.synth2d.cameras`` (pixel i spans [i, i + 1); principal point at the centre).
- 2D layers keep the exact position of every keypoint in front of the camera, also outside the image or
  hidden, with confidence = 1 only where visible; ``keypoints3d`` follows posecli's rule (NaN where not
  visible) and ``keypoints3d_all`` has every joint.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..atomic import atomic_path
from ..console import note, progress
from ..errors import InputError, OutputError
from ..poses import KEYPOINTS_2D, KEYPOINTS_3D, Keypoints, Poses, Track
from .rig import RigCamera, sample_rig, write_calibration
from .scene import background, box_mesh, light, random_light, random_occluders
from .visibility import REACH, SURFACE_REACH, own_front, visibility

SCHEMA = "posecli.synth"
CHUNK = 32  # frames of vertices computed at once
KEYPOINTS_2D_H36M = "keypoints2d_h36m"
LAYOUTS = ("ring", "crossing")


@dataclass
class SynthOptions:
    views: int = 4
    persons: int = 1
    width: int = 640
    height: int = 480
    frames: int = 90
    clips: int = 1
    seed: int = 0
    follow: bool = False
    truncate: float = 0.0
    wide: float = 0.0  # fraction of views framed wide (people small in the image)
    occluders: int = 0
    layout: str = "ring"  # or "crossing" (see place_people)
    step: int = 1  # mocap frames between two rendered frames (image datasets: fewer near-duplicate frames)
    backdrop: str = "room"  # or "flat": the background picture pasted behind the render (before session 15)

    def key(self) -> dict:
        """What must match for a rerun to resume (everything but the number of clips)."""
        d = asdict(self)
        d.pop("clips")
        if d["layout"] == "ring":  # manifests from before layouts existed stay resumable
            d.pop("layout")
        if d["step"] == 1:
            d.pop("step")
        if d["backdrop"] == "flat":  # manifests from before rooms existed stay resumable
            d.pop("backdrop")
        if d["wide"] == 0:  # nor do manifests from before wide framings
            d.pop("wide")
        return d


ROOM_CAMERA_HEIGHT = 0.3  # metres: the lowest a camera stands in a room (a tripod on the floor)


def clip_name(k: int) -> str:
    return f"clip_{k:04d}"


def synthesise(mocap, out: str | Path, options: SynthOptions, videos: list[Path] | None = None,
               mocap_spec: str = "", workers: int = 1, device: str = "cpu") -> dict:
    """Render ``options.clips`` clips into ``out`` (created), skipping those already done; returns the manifest.
    ``workers`` > 1 renders that many clips at once in separate processes. ``device``: where the bodies are
    posed and skinned (not part of ``options``: it changes the speed, not the dataset)."""
    out = Path(out)
    span = (options.frames - 1) * options.step + 1  # mocap frames one clip covers
    pool = [s for s in mocap.sequences if len(s) >= span]
    if not pool:
        longest = max((len(s) for s in mocap.sequences), default=0)
        raise InputError(f"no mocap sequence has {span} frames (the longest has {longest})",
                         "lower --frames or --step")
    manifest = _open_manifest(out, options, mocap_spec, videos)
    done = {c["name"] for c in manifest["clips"] if (out / c["name"]).is_dir()}
    manifest["clips"] = [c for c in manifest["clips"] if c["name"] in done]
    todo = [k for k in range(options.clips) if clip_name(k) not in done]
    if done and todo:
        note(f"resuming: {len(done)} clip(s) already in {out}, {len(todo)} to make")
    def add(entry: dict) -> None:
        manifest["clips"].append(entry)
        manifest["clips"].sort(key=lambda c: c["name"])
        _write_json(out / "manifest.json", manifest)

    with progress("synth", len(todo) * options.frames * options.views, "fps") as advance:
        if workers > 1 and len(todo) > 1:
            _render_in_processes(pool, out, todo, options, videos, workers, add, advance, device)
        elif todo:
            from .people import anny_synth

            anny = anny_synth(device)
            for k in todo:
                add(render_clip(anny, pool, out, k, options, videos, advance))
    return manifest


# Worker processes (``--workers``): each loads Anny and opens its own GL context once, then renders whole
# clips. Clip k depends only on (seed, k), so the dataset is the same for any number of workers.
_worker: dict = {}


def _init_worker(pool, videos, device: str) -> None:
    from ..console import set_quiet
    from .people import anny_synth

    set_quiet(True)
    _worker.update(anny=anny_synth(device), pool=pool, videos=videos)


def _render_in_worker(out: Path, k: int, options: SynthOptions) -> dict:
    return render_clip(_worker["anny"], _worker["pool"], out, k, options, _worker["videos"])


def _render_in_processes(pool, out: Path, todo: list[int], options: SynthOptions, videos, workers: int,
                         add, advance, device: str = "cpu") -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # spawn, not fork: a forked child would inherit torch's thread pools and any GL state of the parent
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(pool, videos, device)) as ex:
        pending = {ex.submit(_render_in_worker, out, k, options) for k in todo}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    add(f.result())
                    advance(options.frames * options.views)
        except BaseException:
            for f in pending:
                f.cancel()
            raise


def read_manifest(path: Path, fix: str) -> dict:
    """A dataset's manifest.json; one clear error (with ``fix``) if it is unreadable or not a synth manifest."""
    try:
        manifest = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, huge ints
        raise InputError(f"unreadable manifest ({type(exc).__name__}: {str(exc)[:100]})", fix, path) from None
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        raise InputError("is not a posecli synth manifest", fix, path)
    clips = manifest.get("clips")
    if not isinstance(manifest.get("options"), dict) or not isinstance(clips, list):
        raise InputError("manifest lacks its options or its list of clips", fix, path)
    for c in clips:
        views = c.get("views") if isinstance(c, dict) else None
        if not (isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(views, list)
                and all(isinstance(v, dict) and isinstance(v.get("video"), str) and isinstance(v.get("poses"), str)
                        for v in views)):
            raise InputError("manifest has a clip without a name or without views (video, poses)", fix, path)
    return manifest


def _open_manifest(out: Path, options: SynthOptions, mocap_spec: str, videos) -> dict:
    path = out / "manifest.json"
    if out.exists() and not out.is_dir():
        raise OutputError("exists and is not a folder", "give a folder for -o", out)
    if path.is_file():
        manifest = read_manifest(path, "delete the folder or choose another -o")
        if manifest.get("options") != options.key():
            raise OutputError(f"holds a dataset made with other options ({manifest.get('options')})",
                              "rerun with the same options to resume, or choose another -o", out)
    else:
        if out.exists() and any(p for p in out.iterdir() if not p.name.startswith(".clip_")):
            raise OutputError("exists, is not empty and has no manifest.json", "choose an empty or new folder", out)
        manifest = {"schema": SCHEMA, "version": 1, "posecli": __version__, "options": options.key(),
                    "mocap": mocap_spec, "backgrounds": [str(v) for v in videos or []], "clips": []}
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".clip_*.part"):  # an interrupted run's unfinished clip: made again from its seed
        shutil.rmtree(stale, ignore_errors=True)
    return manifest


def _write_json(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=1))


def _yaw(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return points @ rot.T


def place_people(rng: np.random.Generator, pool, n_persons: int, n_frames: int, layout: str = "ring",
                 step: int = 1):
    """(joints per person (T, 17, 3) world, sources): random windows (every ``step``-th mocap frame), headings
    and floor positions."""
    from .. import joints as joint_sets

    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}")
    pelvis = joint_sets.get("h36m17").index("pelvis")
    people, sources = [], []
    ring = rng.uniform(0, 2 * np.pi)
    for p in range(n_persons):
        seq = pool[int(rng.integers(len(pool)))]
        span = (n_frames - 1) * step + 1
        start = int(rng.integers(0, len(seq) - span + 1))
        joints = np.asarray(seq.joints["h36m17"][start:start + span:step], np.float64)
        centre = joints[:, pelvis].mean(0)
        joints = joints - np.array([centre[0], 0.0, centre[2]])
        joints = _yaw(joints, rng.uniform(-np.pi, np.pi))
        path = joints[-1, pelvis] - joints[0, pelvis]
        travel = float(np.hypot(path[0], path[2]))
        if layout == "crossing":
            joints = _crossing_place(rng, joints, people, pelvis, travel, path, ring + 2 * np.pi * p / n_persons)
        elif p:  # draws in the order of earlier versions, so that existing datasets resume identically
            angle = ring + 2 * np.pi * p / max(n_persons - 1, 1) + rng.uniform(-0.3, 0.3)
            r = rng.uniform(1.2, 2.2)
            joints = joints + np.array([r * np.sin(angle), 0.0, r * np.cos(angle)])
        people.append(joints)
        sources.append({"subject": seq.subject, "sequence": seq.name, "start": start, "step": step})
    return people, sources


MIN_SEPARATION = 0.6  # metres between two people's pelvises at every frame (people do not walk through people)


def _crossing_place(rng, joints, placed, pelvis, travel, path, angle, tries: int = 30):
    """Shift one person for the ``crossing`` layout (place_people), away from those already placed: the
    offsets are drawn again (up to ``tries`` times, keeping the best) while their pelvises come closer than
    MIN_SEPARATION at some frame; people still pass in front of each other as seen by the cameras."""
    best, best_gap = joints, -np.inf
    for _ in range(tries):
        if travel > 1.0:
            # Beside the centre by up to 0.8 m across the path, and along it by up to 30 % of the path, so
            # that crossings happen at different frames and people pass beside each other.
            along = np.array([path[0], 0.0, path[2]]) / travel
            across = np.array([-along[2], 0.0, along[0]])
            moved = joints + across * rng.uniform(-0.8, 0.8) + along * travel * rng.uniform(-0.3, 0.3)
        else:
            a, r = angle + rng.uniform(-0.3, 0.3), rng.uniform(1.5, 3.0)
            moved = joints + np.array([r * np.sin(a), 0.0, r * np.cos(a)])
        gap = min((float(np.linalg.norm((moved[:, pelvis] - other[:, pelvis])[:, [0, 2]], axis=1).min())
                   for other in placed), default=np.inf)
        if gap > best_gap:
            best, best_gap = moved, gap
        if gap >= MIN_SEPARATION:
            break
    return best


def _backdrop_view(o: SynthOptions, k: int, ci: int, cam: RigCamera, picture: np.ndarray, points: np.ndarray):
    """frame -> (H, W, 3) background of view ``ci``: ``picture`` as drawn, or a room (``backdrop``) whose wall
    carries it. The room's own draws come from a generator of their own, so that the people, cameras and
    pictures of a clip are the same with either backdrop (paired comparisons)."""
    if o.backdrop == "flat":
        return lambda t: picture
    from .backdrop import room_backdrop
    from .scene import procedural_background

    rng = np.random.default_rng(np.random.SeedSequence([o.seed, k, 1, ci]))
    room = room_backdrop(rng, picture, procedural_background(rng, (o.width, o.height)), points,
                         -cam.R[0].T @ cam.t[0])
    size = (o.width, o.height)
    if not cam.following:
        still = room.image(cam.K, cam.R[0], cam.t[0], size)
        return lambda t: still
    return lambda t: room.image(cam.K, cam.R[t], cam.t[t], size)


def render_clip(anny, pool, out: Path, k: int, o: SynthOptions, videos, advance=lambda n=1: None) -> dict:
    from ..render.mesh import MeshRenderer, vertex_normals
    from ..video import VideoWriter

    rng = np.random.default_rng(np.random.SeedSequence([o.seed, k]))
    fps = float(pool[0].fps) / o.step  # the video plays the motion at its real speed
    targets, sources = place_people(rng, pool, o.persons, o.frames, o.layout, o.step)
    persons = [anny.make_person(rng, j, fps) for j in targets]
    world_h36m = np.concatenate([p.h36m_world for p in persons], axis=1)  # (T, P*17, 3)
    size = (o.width, o.height)
    # In a room the cameras stand on its floor (synth.backdrop); redraws come from a generator of their own.
    above = (ROOM_CAMERA_HEIGHT, np.random.default_rng(np.random.SeedSequence([o.seed, k, 2]))) \
        if o.backdrop == "room" else None
    cams = sample_rig(rng, o.views, size, world_h36m, follow=o.follow, truncate=o.truncate, wide=o.wide, fps=fps,
                       above=above)
    lighting = random_light(rng)
    occluders = random_occluders(rng, o.occluders, world_h36m.reshape(-1, 3).mean(0))
    boxes = [(*box_mesh(np.array(b["centre"]), np.array(b["size"]), b["yaw"]), b["colour"]) for b in occluders]
    boxes = [(v, f, light(np.repeat(np.array(c, np.float32)[None], len(v), 0), v, f, lighting)) for v, f, c in boxes]
    backgrounds = [background(rng, size, videos) for _ in cams]
    views = [_backdrop_view(o, k, ci, cam, backgrounds[ci], world_h36m) for ci, cam in enumerate(cams)]

    name = clip_name(k)
    tmp = out / f".{name}.part"
    tmp.mkdir()
    T, P = o.frames, len(persons)
    coco_world = np.zeros((P, T, 17, 3), np.float32)
    truth = {key: np.zeros((len(cams), P, T, 17, 3), np.float32) for key in ("coco_cam", "h36m_cam")}
    uvs = {key: np.zeros((len(cams), P, T, 17, 2), np.float32) for key in ("coco", "h36m")}
    states = {key: np.zeros((len(cams), P, T, 17), np.uint8) for key in ("coco", "h36m")}
    reach = {js: np.array([SURFACE_REACH if _surface(n) else REACH for n in _names(js)]) for js in ("coco17", "h36m17")}
    renderers = [MeshRenderer(o.width, o.height, c.K[0, 0], c.K[0, 2], c.K[1, 2]) for c in cams]
    writers = [VideoWriter(tmp / f"{c.name}.mp4", fps) for c in cams]
    try:
        for w in writers:
            w.__enter__()
        for t0 in range(0, T, CHUNK):
            verts = [p.vertices(t0, min(T, t0 + CHUNK), anny) for p in persons]
            for pi in range(P):
                coco_world[pi, t0:t0 + len(verts[pi])] = anny.coco(verts[pi])
            for dt in range(len(verts[0])):
                t = t0 + dt
                normals = [vertex_normals(verts[pi][dt], anny.faces) for pi in range(P)]  # once for all views
                lit = [light(p.colours, verts[pi][dt], anny.faces, lighting, normals[pi])
                       for pi, p in enumerate(persons)]
                for ci, (cam, ren, wr) in enumerate(zip(cams, renderers, writers)):
                    R, tr = cam.R[t], cam.t[t]
                    vc = [verts[pi][dt] @ R.T.astype(np.float32) + tr.astype(np.float32) for pi in range(P)]
                    meshes = [(v, anny.faces, c, n @ R.T) for v, c, n in zip(vc, lit, normals)]
                    meshes += [(bv @ R.T + tr, bf, bc) for bv, bf, bc in boxes]
                    rgb, depth = ren.render(meshes)
                    wr.write(np.where(depth[..., None] > 0, rgb, views[ci](t)))
                    for pi in range(P):
                        for key, world, js in (("coco", coco_world[pi, t], "coco17"),
                                               ("h36m", persons[pi].h36m_world[t], "h36m17")):
                            pc = world @ R.T + tr
                            uv, z = cam.at(t).project(world)
                            front = own_front(pc, vc[pi], anny.own[js], reach[js])
                            truth[f"{key}_cam"][ci, pi, t] = pc
                            uvs[key][ci, pi, t] = uv
                            states[key][ci, pi, t] = visibility(uv, z, front, depth)
                    advance()
        for w in writers:
            w.__exit__(None, None, None)
    except BaseException as exc:
        for w in writers:
            if w._container is not None:
                w.__exit__(type(exc), exc, exc.__traceback__)
        for r in renderers:
            r.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for r in renderers:
        r.close()

    for ci, cam in enumerate(cams):
        poses = view_poses(cam, persons, coco_world, truth, uvs, states, ci, fps, f"{cam.name}.mp4", anny)
        from ..formats import write_poses

        write_poses(poses, tmp / f"{cam.name}.npz")
    write_calibration(tmp / "calibration.toml", cams)
    final = out / name
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    labels = anny.body.shape_labels
    return {
        "name": name, "frames": T, "fps": fps, "calibration": f"{name}/calibration.toml",
        "people": [{"id": pi + 1, **src, "phenotype": dict(zip(labels, map(float, p.phenotype))),
                    "mocap_scale": p.info["scale"], "fit_error_mm": round(p.fit_error_mm, 1)}
                   for pi, (p, src) in enumerate(zip(persons, sources))],
        "views": [{"name": c.name, "video": f"{name}/{c.name}.mp4", "poses": f"{name}/{c.name}.npz",
                   "following": c.following, "truncating": c.truncating, "wide": c.wide,
                   "visible_fraction": round(float((states["coco"][ci] == 2).mean()), 3),
                   "whole_body_in_frame": round(float((states["coco"][ci] > 0).all(-1).all(0).mean()), 3)}
                  for ci, c in enumerate(cams)],
        "lighting": lighting, "occluders": occluders,
    }


def _names(js: str) -> tuple[str, ...]:
    from .. import joints as joint_sets

    return joint_sets.get(js).joints


def _surface(name: str) -> bool:
    from .people import SURFACE_KEYPOINTS

    return name.replace("left_", "").replace("right_", "") in SURFACE_KEYPOINTS


def view_poses(cam: RigCamera, persons, coco_world, truth, uvs, states, ci: int, fps: float, source: str,
               anny) -> Poses:
    """One view's pose file: a track per person with the truth layers and arrays (module docstring)."""
    import roma
    import torch

    T = len(cam.R)
    tracks = []
    for pi, p in enumerate(persons):
        vis_c, vis_h = states["coco"][ci, pi], states["h36m"][ci, pi]
        uv_c = uvs["coco"][ci, pi]  # NaN only behind the camera (Camera.project)
        h36m_cam = truth["h36m_cam"][ci, pi]
        kp3 = np.where((vis_h == 2)[..., None], h36m_cam, np.nan)
        rot_w = roma.rotvec_to_rotmat(torch.as_tensor(p.orient_world, dtype=torch.float64)).numpy()
        orient_cam = roma.rotmat_to_rotvec(torch.as_tensor(cam.R @ rot_w)).numpy()
        transl_cam = np.einsum("tij,tj->ti", cam.R, p.transl_world) + cam.t
        from .. import joints as joint_sets

        pelvis = joint_sets.get("h36m17").index("pelvis")
        arrays = {
            "keypoints3d_all": h36m_cam, "root": h36m_cam[:, pelvis],
            "keypoints3d_coco": truth["coco_cam"][ci, pi],
            "joints_world_h36m17": p.h36m_world, "joints_world_coco17": coco_world[pi],
            "visibility_coco17": vis_c, "visibility_h36m17": vis_h,
            "body_pose": p.pose.astype(np.float32),
            "body_shape": np.repeat(p.phenotype[None], T, 0).astype(np.float32),
            "body_global_orient": orient_cam.astype(np.float32), "body_transl": transl_cam.astype(np.float32),
            "body_joints": h36m_cam, "body_global_orient_world": p.orient_world,
            "body_transl_world": p.transl_world,
            "camera_R": cam.R.astype(np.float32), "camera_t": cam.t.astype(np.float32),
        }
        layers = {
            KEYPOINTS_2D: Keypoints("coco17", uv_c, (vis_c == 2).astype(np.float32)),
            KEYPOINTS_2D_H36M: Keypoints("h36m17", uvs["h36m"][ci, pi], (vis_h == 2).astype(np.float32)),
            KEYPOINTS_3D: Keypoints("h36m17", kp3, (vis_h == 2).astype(np.float32)),
        }
        tracks.append(Track(pi + 1, np.arange(T), np.arange(T) / fps, layers,
                            {k: np.asarray(v) for k, v in arrays.items()}, {"synthetic": True}))
    body = anny.body
    meta = {
        "command": "synth", "focal_px": float(cam.K[0, 0]),
        "synth": {"view": cam.name, "following": cam.following, "truncating": cam.truncating, "wide": cam.wide,
                  "visibility": "0 outside the image or behind the camera, 1 hidden, 2 visible (COCO's v)",
                  "world": "metres, Y up, floor at y = 0"},
        "body": {"model": "anny", "model_path": None, "joint_set": "h36m17", "pose": body.layout.names,
                 "shape": list(body.shape_labels),
                 "placement": "camera = R(body_global_orient) @ model(body_pose, body_shape) + body_transl",
                 "vertices_stored": False, "mean_error_mm": None, "fit_fps": None},
    }
    camera = {"K": cam.K, "dist": np.zeros(4), "R": cam.R[0], "t": cam.t[0]}
    return Poses(tracks, fps, cam.width, cam.height, T, source, camera, meta)
