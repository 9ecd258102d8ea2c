"""Choosing which keypoint layer an interchange format carries, shared by the exporters."""
from __future__ import annotations

from ..errors import PoseCliError
from ..poses import KEYPOINTS_2D, KEYPOINTS_3D, Keypoints, Poses, Track


def pick_layer(track: Track, dim: int | None = None, name: str | None = None) -> tuple[str, Keypoints]:
    """The named layer, else the conventional one of that dimension, else the only one of that dimension."""
    if name is not None:
        if name not in track.keypoints:
            raise PoseCliError(f"track {track.id} has no keypoint layer {name!r}",
                               f"layers: {', '.join(track.keypoints) or 'none'}")
        return name, track.keypoints[name]
    preferred = {2: [KEYPOINTS_2D], 3: [KEYPOINTS_3D], None: [KEYPOINTS_2D, KEYPOINTS_3D]}[dim]
    for cand in preferred:
        if cand in track.keypoints:
            return cand, track.keypoints[cand]
    fits = [k for k, v in track.keypoints.items() if dim is None or v.dim == dim]
    if len(fits) == 1:
        return fits[0], track.keypoints[fits[0]]
    what = f"{dim}D " if dim else ""
    raise PoseCliError(f"track {track.id} has {len(fits) or 'no'} {what}keypoint layers"
                       + (f" ({', '.join(fits)})" if fits else ""),
                       "choose one with --layer" if fits else "run a command that produces them first")


def one_track(poses: Poses, track_id: int | None, fmt: str) -> Track:
    """Formats that hold one subject (TRC) need one track: the given id, or the only one."""
    if track_id is not None:
        return poses.track(track_id)
    if len(poses.tracks) == 1:
        return poses.tracks[0]
    raise PoseCliError(f"{fmt} holds one person but the file has {len(poses.tracks)} tracks",
                       f"choose one with --track (ids: {[t.id for t in poses.tracks]})")
