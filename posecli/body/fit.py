"""Fit a parametric body (Anny or SMPL) to each track's estimated 3D joints, all frames of a track at once.

Unknowns per track: one shape (the same person throughout), and per frame a pose (the model's compact
``PoseLayout``), a global rotation (axis-angle) and a translation that place the model's own frame in the camera
frame (x right, y down, z forward, metres): ``camera = R(global_orient) @ model + transl``. Keeping the rigid
placement out of the models makes the fitter model-agnostic and gives both models the same stored meaning.

Objective (distances in centimetres so that the weights read naturally):
- data: confidence-weighted squared distance between the model's H36M-17 joints and the lifter's joints
  (``keypoints3d_all``: the network's guess for every joint, so a hidden joint still pulls, with weight
  ``max(confidence, unseen_weight)``), normalised per frame by the frame's total weight;
- smoothness: squared joint accelerations (second differences scaled to 30 fps, so the weight does not depend
  on the frame rate) between frames that follow each other (a gap over 1.5 frame steps breaks the chain);
- the pose prior of the model's ``PoseLayout`` (rest-pose pull; hinge limits are enforced by clamping), and the
  model's shape prior.

Solver: Levenberg-Marquardt (Gauss-Newton with damping) on every frame's placement and pose at once, shape
fixed, alternating for a few rounds with L-BFGS on the shape (6 or 10 values shared by all frames) with the
poses fixed (on up to 32 evenly spread frames: the shape needs no more). Each frame is a small least-squares
problem (51 joint coordinates, 6 + P unknowns) whose Jacobian the model computes analytically (``PoseLayout``'s
``pose_jacobian``: a rigid kinematic chain), so a step costs about one forward pass; the smoothness term couples
frame t with t+-1 and t+-2, so the normal equations are a symmetric block band, solved exactly by a block-band
Cholesky factorisation in time linear in the track's length. First-order methods over all frames did badly:
L-BFGS takes one step length for a hundred independent problems, Adam needed hundreds of steps to reach
centimetres. Initialisation: per frame, a weighted Kabsch fit of the rest-pose torso (hips, pelvis, spine,
thorax, shoulders) to the target torso; pose at rest; the model's default shape.
Torch runs single-threaded during the fit: the tensors are small, and intra-op threads on a busy machine made
each step several times slower.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import joints as joint_sets

SHAPE_FRAMES = 32
TORSO = ("pelvis", "right_hip", "left_hip", "spine", "thorax", "left_shoulder", "right_shoulder")
_CM = 0.01


@dataclass
class FitOptions:
    rounds: int = 3  # pose rounds; a shape refinement precedes every round after the first
    pose_steps: int = 10  # Levenberg-Marquardt steps per round
    shape_evaluations: int = 15  # L-BFGS evaluations per shape refinement
    smooth: float = 1.0  # weight of squared joint accelerations (cm, at 30 fps) against the data term
    prior: float = 1.0  # weight of the pose prior
    shape_prior: float = 1.0
    unseen_weight: float = 0.1  # data weight of joints the detector did not see (the lifter's guess)
    threads: int = 1


@dataclass
class BodyFit:
    """One track's fit. Arrays are float32 numpy; ``joints`` in the camera frame."""

    model: str
    pose: np.ndarray  # (T, P)
    shape: np.ndarray  # (S,)
    global_orient: np.ndarray  # (T, 3) axis-angle, model frame -> camera frame
    transl: np.ndarray  # (T, 3) metres
    joints: np.ndarray  # (T, 17, 3) fitted H36M-17 joints, camera frame
    joint_error: np.ndarray  # (T, 17) distance to the target joints, metres; NaN where not counted
    seconds: float = 0.0
    info: dict = field(default_factory=dict)

    @property
    def frame_error(self) -> np.ndarray:
        """(T,) mean distance per frame over the joints the error is reported on (NaN if none), metres."""
        err = self.joint_error
        counted = np.isfinite(err)
        total = np.where(counted, err, 0.0).sum(-1)
        return np.where(counted.any(-1), total / np.maximum(counted.sum(-1), 1), np.nan)

    def arrays(self) -> dict[str, np.ndarray]:
        """The per-frame arrays a track stores (leading dimension T)."""
        n = len(self.pose)
        return {
            "body_pose": self.pose.astype(np.float32),
            "body_shape": np.repeat(self.shape[None].astype(np.float32), n, axis=0),
            "body_global_orient": self.global_orient.astype(np.float32),
            "body_transl": self.transl.astype(np.float32),
            "body_joints": self.joints.astype(np.float32),
            "body_error": self.frame_error.astype(np.float32),
        }


def place(points: torch.Tensor, global_orient: torch.Tensor, transl: torch.Tensor) -> torch.Tensor:
    """(T, N, 3) model-frame points -> camera frame."""
    import roma

    rot = roma.rotvec_to_rotmat(global_orient)
    return torch.einsum("tij,tnj->tni", rot, points) + transl[:, None, :]


def fit_track(body, target: np.ndarray, weight: np.ndarray, frames: np.ndarray | None = None,
              fps: float | None = None, options: FitOptions | None = None, seen: np.ndarray | None = None,
              shape: np.ndarray | None = None) -> BodyFit:
    """Fit ``body`` to target joints (T, 17, 3) (camera frame, metres) with per-joint weights (T, 17) in [0, 1].

    ``frames`` (frame indices) find gaps for the smoothness term and ``fps`` scales it; ``seen`` (T, 17) marks
    the joints the reported error counts (default: all). NaN targets get weight 0. ``shape`` (S,): a known
    body shape, kept fixed (no shape refinement; e.g. a synthetic person whose phenotype was drawn first).
    """
    options = options or FitOptions()
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, options.threads))
    try:
        fitter = _Fitter(body, target, weight, frames, fps, options)
        if shape is not None:
            fitter.free = body.free_from_shape(torch.as_tensor(np.asarray(shape, np.float32), device=body.device))
            fitter.fixed_shape = True
        return fitter.run(seen)
    finally:
        torch.set_num_threads(threads)


class _Fitter:
    def __init__(self, body, target, weight, frames, fps, options: FitOptions):
        self.body, self.options = body, options
        device = self.device = body.device  # every tensor of the fit lives where the body does
        target = np.asarray(target, dtype=np.float32)
        weight = np.asarray(weight, dtype=np.float32).copy()
        finite = np.isfinite(target).all(-1)
        weight[~finite] = 0.0
        weight = np.maximum(weight, np.where(finite, options.unseen_weight, 0.0)).astype(np.float32)
        self.n = target.shape[0]
        self.target_np = target
        self.x = torch.as_tensor(np.nan_to_num(target), device=device)
        # Per-frame normalised weights: each frame's data term is a weighted mean over its joints (cm^2).
        w = torch.as_tensor(weight, device=device)
        self.w = w / w.sum(-1, keepdim=True).clamp_min(1e-6)
        step = 1.0 if frames is None or self.n < 2 else float(np.median(np.diff(frames)))
        # A second difference over a frame step dt is a * dt^2: rescaled to 30 fps it is x (30 dt)^-2, squared ^2.
        self.acc_scale = (fps / (30.0 * step)) ** 4 if fps else 1.0
        self.mask = _neighbour_mask(frames, self.n, device)  # (T-2,)
        # Smoothness weight per second difference, per joint like the data term (a mean over the 17 joints).
        self.smooth_w = options.smooth * self.acc_scale * self.mask / 17.0
        self.free = body.free_from_shape(body.shape_default).clone()
        self.pose = torch.zeros(self.n, body.layout.dim, device=device)
        self.go = torch.zeros(self.n, 3, device=device)
        self.tr = torch.zeros(self.n, 3, device=device)
        self.evaluations = 0
        self.fixed_shape = False

    # --- objective ---------------------------------------------------------------------------------------
    def joints(self, go, tr, pose, rest) -> torch.Tensor:
        self.evaluations += 1
        return place(self.body.joints(pose, rest), go, tr)

    def accelerations(self, joints: torch.Tensor) -> torch.Tensor:
        """(T, 17, 3) -> (T-2, 17, 3) second differences in centimetres."""
        return (joints[2:] - 2 * joints[1:-1] + joints[:-2]) / _CM

    def frame_terms(self, joints, pose) -> torch.Tensor:
        """(T,) data + pose prior of each frame."""
        data = (self.w * ((joints - self.x) / _CM).square().sum(-1)).sum(-1)
        return data + self.options.prior * self.body.layout.prior(pose)

    def total(self, joints, pose, shape) -> torch.Tensor:
        """The objective: mean over frames of data + pose prior + smoothness, plus the shape prior."""
        total = self.frame_terms(joints, pose).sum()
        if len(self.mask):
            total = total + (self.smooth_w * self.accelerations(joints).square().sum((-1, -2))).sum()
        return total / max(self.n, 1) + self.options.shape_prior * self.body.shape_prior(shape)

    # --- steps -------------------------------------------------------------------------------------------
    def initial_placement(self) -> None:
        import roma

        js = joint_sets.get("h36m17")
        idx = [js.index(name) for name in TORSO]
        with torch.no_grad():
            rest = self.body.joints(torch.zeros(1, self.body.layout.dim, device=self.device),
                                    self.body.rest(self.body.shape_from_free(self.free)))[0]
            w = self.w[:, idx] + 1e-4
            rot, t = roma.rigid_points_registration(rest[idx].expand(self.n, -1, -1), self.x[:, idx], weights=w)
        self.go, self.tr = roma.rotmat_to_rotvec(rot), t

    def pose_steps(self, steps: int) -> None:
        """Levenberg-Marquardt on (global_orient, transl, pose) of every frame together, shape fixed."""
        import roma

        from .layout import left_jacobian, skew

        body, o, n, device = self.body, self.options, self.n, self.device
        layout = body.layout
        with torch.no_grad():
            shape = body.shape_from_free(self.free)
            rest = body.rest(shape)
        theta = torch.cat([self.go, self.tr, self.pose], dim=1)  # (T, m), m = 6 + P
        prior_w = o.prior * layout.prior_weights()  # (P,) weights of the quadratic prior
        wd = self.w.repeat_interleave(3, dim=1)  # (T, 51) data weight per coordinate
        sw = self.smooth_w

        def evaluate(th, jacobian=False):
            go, tr, pose = th[:, :3], th[:, 3:6], th[:, 6:]
            self.evaluations += 1
            if not jacobian:
                return place(body.joints(pose, rest), go, tr), None
            model_joints, jac_pose = body.joints_and_jacobian(pose, rest)
            rot = roma.rotvec_to_rotmat(go)
            cam = torch.einsum("tij,tnj->tni", rot, model_joints)
            d_pose = torch.einsum("tij,tnjp->tnip", rot, jac_pose)
            d_rot = -skew(cam) @ left_jacobian(go)[:, None]  # d(R x) = (J_l dr) x (R x)
            d_tr = torch.eye(3, device=device).expand(n, cam.shape[1], 3, 3)
            jac = torch.cat([d_rot, d_tr, d_pose], dim=-1).reshape(n, -1, th.shape[1])  # (T, 51, m)
            return cam + tr[:, None], jac / _CM

        def objective(joints, th):
            return self.total(joints, th[:, 6:], shape)

        def second_difference(x):  # (T, ...) -> (T-2, ...)
            return x[2:] - 2 * x[1:-1] + x[:-2]

        def second_difference_t(a):  # adjoint: (T-2, ...) -> (T, ...)
            out = torch.zeros((n, *a.shape[1:]), dtype=a.dtype, device=device)
            out[:-2] += a
            out[1:-1] -= 2 * a
            out[2:] += a
            return out

        lam = 0.1
        joints, _ = evaluate(theta)
        current = objective(joints, theta)
        for _ in range(steps):
            joints, jac = evaluate(theta, jacobian=True)
            res = ((joints - self.x) / _CM).reshape(n, -1)
            jt = jac.transpose(1, 2)
            blocks = jt @ (wd[..., None] * jac)  # (T, m, m): data part, frame by frame
            blocks[:, 6:, 6:] += torch.diag_embed(prior_w.expand(n, -1))
            grad = (jt @ (wd * res)[..., None])[..., 0]
            grad[:, 6:] += prior_w * theta[:, 6:]
            upper1 = upper2 = None
            if len(sw):
                acc = second_difference(joints.reshape(n, -1) / _CM)  # (T-2, 51): residuals of the smoothness
                grad = grad + (jt @ second_difference_t(sw[:, None] * acc)[..., None])[..., 0]
                # The smoothness couples frames t and t+1, t+2: a block band of width 2 (k indexes the
                # second differences x_k - 2 x_k+1 + x_k+2, with weights sw_k).
                reach = torch.zeros(n, device=device)
                reach[:-2] += sw
                reach[1:-1] += 4 * sw
                reach[2:] += sw
                blocks = blocks + reach[:, None, None] * (jt @ jac)
                c1 = torch.zeros(n - 1, device=device)
                c1[:-1] += -2 * sw
                c1[1:] += -2 * sw
                upper1 = c1[:, None, None] * (jt[:-1] @ jac[1:])  # H[t, t+1]
                upper2 = sw[:, None, None] * (jt[:-2] @ jac[2:])  # H[t, t+2]
            while True:
                damping = lam * torch.diagonal(blocks, dim1=1, dim2=2) + 1e-6
                delta = _solve_block_band(blocks + torch.diag_embed(damping), upper1, upper2, -grad)
                if delta is not None:
                    trial = theta + delta
                    layout.clamp_(trial[:, 6:])
                    trial_joints, _ = evaluate(trial)
                    value = objective(trial_joints, trial)
                    if value <= current:
                        theta, current, lam = trial, value, max(lam / 3.0, 1e-7)
                        break
                lam *= 4.0
                if lam > 1e7:
                    break
        self.go, self.tr, self.pose = theta[:, :3].clone(), theta[:, 3:6].clone(), theta[:, 6:].clone()

    def shape_steps(self, evaluations: int) -> None:
        """L-BFGS on the shape with every frame's pose and placement fixed. The shape is one small vector
        shared by all frames, so up to ``SHAPE_FRAMES`` evenly spread frames estimate it as well as all of them
        (the smoothness term hardly depends on it and is left out here)."""
        rows = torch.as_tensor(np.unique(np.linspace(0, self.n - 1, min(self.n, SHAPE_FRAMES)).round().astype(int)),
                               device=self.device)
        go, tr, pose, x, w = self.go[rows], self.tr[rows], self.pose[rows], self.x[rows], self.w[rows]
        free = self.free.clone().requires_grad_()
        optimizer = torch.optim.LBFGS([free], lr=1.0, max_iter=evaluations, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            shape = self.body.shape_from_free(free)
            joints = self.joints(go, tr, pose, self.body.rest(shape))
            data = (w * ((joints - x) / _CM).square().sum(-1)).sum(-1).mean()
            loss = data + self.options.shape_prior * self.body.shape_prior(shape)
            loss.backward()
            return loss

        optimizer.step(closure)
        self.free = free.detach()

    def run(self, seen) -> BodyFit:
        started = time.perf_counter()
        o = self.options
        if self.n:
            self.initial_placement()
            for r in range(o.rounds):
                if r and not self.fixed_shape:
                    self.shape_steps(o.shape_evaluations)
                self.pose_steps(o.pose_steps)
        with torch.no_grad():
            shape = self.body.shape_from_free(self.free)
            joints = self.joints(self.go, self.tr, self.pose, self.body.rest(shape))
            final = float(self.total(joints, self.pose, shape)) if self.n else 0.0
        j = joints.cpu().numpy()
        err = np.linalg.norm(j - np.nan_to_num(self.target_np), axis=-1)
        err = np.where(np.isfinite(self.target_np).all(-1), err, np.nan)
        if seen is not None:
            err = np.where(seen, err, np.nan)
        return BodyFit(self.body.name, self.pose.cpu().numpy(), shape.cpu().numpy(), self.go.cpu().numpy(),
                       self.tr.cpu().numpy(), j,
                       err.astype(np.float32), time.perf_counter() - started,
                       {"evaluations": self.evaluations, "objective": final})


def _neighbour_mask(frames: np.ndarray | None, n: int, device: torch.device) -> torch.Tensor:
    """(n-2,) weights of the second differences: 1 where frames t-1, t, t+1 are evenly spaced neighbours."""
    if n < 3:
        return torch.zeros(0, device=device)
    if frames is None:
        return torch.ones(n - 2, device=device)
    gaps = np.diff(np.asarray(frames, dtype=np.float64))
    ok = gaps <= 1.5 * np.median(gaps)
    return torch.as_tensor((ok[:-1] & ok[1:]).astype(np.float32), device=device)


def _solve_block_band(diag: torch.Tensor, upper1: torch.Tensor | None, upper2: torch.Tensor | None,
                      b: torch.Tensor) -> torch.Tensor | None:
    """Solve H x = b for a symmetric positive definite block matrix with diagonal blocks ``diag`` (T, m, m)
    and upper blocks H[t, t+1] = ``upper1`` (T-1, m, m), H[t, t+2] = ``upper2`` (T-2, m, m), by a block-band
    Cholesky factorisation (cost linear in T). None when H is not positive definite."""
    if upper1 is None:
        factor, info = torch.linalg.cholesky_ex(diag)
        return None if bool(info.any()) else torch.cholesky_solve(b[..., None], factor)[..., 0]
    n = diag.shape[0]
    tri = torch.linalg.solve_triangular
    low0, low1, low2 = [None] * n, [None] * n, [None] * n  # L[i,i], L[i,i-1], L[i,i-2]
    for i in range(n):
        a = diag[i]
        if i >= 2:  # L[i,i-2] = H[i,i-2] L[i-2,i-2]^-T
            low2[i] = tri(low0[i - 2], upper2[i - 2], upper=False).transpose(0, 1)
            a = a - low2[i] @ low2[i].T
        if i >= 1:  # L[i,i-1] = (H[i,i-1] - L[i,i-2] L[i-1,i-2]^T) L[i-1,i-1]^-T
            h = upper1[i - 1].T
            if i >= 2:
                h = h - low2[i] @ low1[i - 1].T
            low1[i] = tri(low0[i - 1], h.T, upper=False).transpose(0, 1)
            a = a - low1[i] @ low1[i].T
        low0[i], info = torch.linalg.cholesky_ex(a)
        if int(info):
            return None
    y = [None] * n
    for i in range(n):
        r = b[i, :, None]
        if i >= 1:
            r = r - low1[i] @ y[i - 1]
        if i >= 2:
            r = r - low2[i] @ y[i - 2]
        y[i] = tri(low0[i], r, upper=False)
    x = [None] * n
    for i in reversed(range(n)):
        r = y[i]
        if i + 1 < n:
            r = r - low1[i + 1].T @ x[i + 1]
        if i + 2 < n:
            r = r - low2[i + 2].T @ x[i + 2]
        x[i] = tri(low0[i].T, r, upper=True)
    return torch.cat(x, dim=1).T
