"""Synthetic 2D keypoints from 3D mocap: virtual cameras, detector-like noise, videographic augmentation.

The training-data path for 2D->3D lifting and view-invariant embeddings: world joints (``posecli.mocap``) ->
:class:`CameraSampler` cameras -> :meth:`Camera.project` -> :func:`simulate_videography` (zoom, pan,
truncation, visibility) -> :func:`realistic_2d` (what a detector would report). Pure numpy; every random
choice comes from the ``np.random.Generator`` passed in, so a seed reproduces a sample exactly.
"""
from .cameras import Camera, CameraSampler, aim_rotation, focal_px, intrinsics, look_at_rotation, view_angles
from .noise import PART_SIGMA, ar1_normal, body_part, gaussian_2d, joint_sigmas, person_scale, realistic_2d, swap_runs
from .videography import crop_windows, occlusion_masks, simulate_videography, smooth_curve

__all__ = [
    "PART_SIGMA",
    "Camera",
    "CameraSampler",
    "aim_rotation",
    "ar1_normal",
    "body_part",
    "crop_windows",
    "focal_px",
    "gaussian_2d",
    "intrinsics",
    "joint_sigmas",
    "look_at_rotation",
    "occlusion_masks",
    "person_scale",
    "realistic_2d",
    "simulate_videography",
    "smooth_curve",
    "swap_runs",
    "view_angles",
]
