"""`posecli synth --backdrop room`: the background on a wall and a floor seen through the render camera."""
import numpy as np

from posecli.lifting.verticals import line_segments, vertical_up
from posecli.lifting.world import tilt_degrees
from posecli.synth.backdrop import Backdrop, pyramid, room_backdrop

W, H, F = 640, 480, 500.0
K = np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1]])
LEVEL = np.array([[-1.0, 0, 0], [0, -1, 0], [0, 0, 1]])  # camera x right, y down, z forward along world +z


def camera(pitch_deg: float, roll_deg: float, height: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """World -> camera (R, t) of a camera at (0, height, 0) looking along +z, pitched down and rolled."""
    p, r = np.radians(pitch_deg), np.radians(roll_deg)
    pitch = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    roll = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    R = roll @ pitch @ LEVEL
    return R, -R @ np.array([0.0, height, 0.0])


def wall_at(distance: float, wall: np.ndarray, floor: np.ndarray, wall_m: float = 0.01) -> Backdrop:
    return Backdrop(pyramid(wall), pyramid(floor), np.array([0.0, 0.0, -1.0]), -distance,
                    np.array([0.0, 0.0, distance]), wall_m, 0.02, np.zeros(3, np.uint8))


def solid(colour) -> np.ndarray:
    return np.broadcast_to(np.array(colour, np.uint8), (300, 400, 3)).copy()


def test_a_level_camera_sees_the_wall_above_and_the_floor_below_its_foot_line():
    R, t = camera(0, 0)
    img = wall_at(6.0, solid((0, 0, 255)), solid((255, 0, 0))).image(K, R, t, (W, H))
    column = img[:, W // 2]
    wall_rows = np.flatnonzero(column[:, 2] > 200)
    floor_rows = np.flatnonzero(column[:, 0] > 200)
    foot = H / 2 + F * 1.5 / 6.0  # where the wall meets the floor: 1.5 m below the eye at 6 m
    assert wall_rows.min() == 0 and abs(wall_rows.max() + 1 - foot) <= 1.0
    assert floor_rows.min() == wall_rows.max() + 1 and floor_rows.max() == H - 1


def test_the_walls_vertical_lines_give_the_camera_pitch_and_roll():
    stripes = np.zeros((300, 400, 3), np.uint8)
    stripes[:, (np.arange(400) // 25) % 2 == 1] = 220
    tiles = np.full((300, 400, 3), 120, np.uint8)
    for pitch, roll in ((15, 5), (-10, -4), (25, 0)):
        R, t = camera(pitch, roll)
        img = wall_at(5.0, stripes, tiles).image(K, R, t, (W, H))
        up = R @ np.array([0.0, 1.0, 0.0])
        segments = line_segments(img.mean(-1).astype(np.uint8))
        prior = camera(pitch + 10, roll - 5)[0] @ np.array([0.0, 1.0, 0.0])  # a body guess 11 degrees off
        found, info = vertical_up(segments, K, prior, 1, float(np.hypot(W, H)))
        assert found is not None, info
        assert tilt_degrees(found, up) < 1.0, (pitch, roll, tilt_degrees(found, up), info)
        # the same picture pasted flat would say the camera is level
        flat = line_segments(stripes[:, :, 0].repeat(2, 0).repeat(2, 1)[:H, :W])
        found_flat, _ = vertical_up(flat, K, prior, 1, float(np.hypot(W, H)))
        assert found_flat is None or tilt_degrees(found_flat, up) > 0.8 * max(abs(pitch), abs(roll))


def test_the_room_stands_behind_the_people_facing_the_camera():
    rng = np.random.default_rng(0)
    people = rng.normal([0.5, 0.9, 1.0], [0.6, 0.4, 0.6], (50, 17, 3))
    eye = np.array([3.0, 1.6, 5.0])
    room = room_backdrop(rng, solid((0, 0, 255)), solid((255, 0, 0)), people, eye)
    towards = (eye - people.reshape(-1, 3).mean(0)) * [1, 0, 1]
    assert np.allclose(room.normal, towards / np.linalg.norm(towards))
    gap = (people.reshape(-1, 3) @ room.normal).min() - room.offset  # nearest the wall any joint comes
    assert 1.0 <= gap <= 4.0
    assert abs(room.origin[1]) < 1e-12 and abs(room.origin @ room.normal - room.offset) < 1e-9


def test_room_cameras_stand_above_the_floor():
    """Pr-VIPE's elevations reach -30 degrees: some cameras of a plain rig are under the floor; a room's are
    drawn again, and the cameras that were above it stay as they were."""
    from posecli.synth.rig import sample_rig

    rng = np.random.default_rng(0)
    people = rng.normal([0.0, 0.9, 0.0], [0.3, 0.4, 0.3], (30, 17, 3))
    plain, room = [], []
    for seed in range(12):
        plain += sample_rig(np.random.default_rng(seed), 4, (640, 480), people)
        room += sample_rig(np.random.default_rng(seed), 4, (640, 480), people,
                           above=(0.3, np.random.default_rng(100 + seed)))

    def height(cam):
        return float((-cam.R[0].T @ cam.t[0])[1])

    below = [i for i, c in enumerate(plain) if height(c) < 0.3]
    assert below and min(height(c) for c in room) >= 0.3
    for i, (a, b) in enumerate(zip(plain, room)):
        if i not in below:
            np.testing.assert_array_equal(a.R, b.R)
            np.testing.assert_array_equal(a.t, b.t)


def test_wide_framings_make_people_smaller_and_leave_other_rigs_unchanged():
    """``wide``: the chosen views stand 1.5-3x farther from the people, so they are that much smaller in the
    image (still all in view); with wide=0 the rig is drawn exactly as before the option existed."""
    from posecli.synth.rig import FARTHER, sample_rig

    rng = np.random.default_rng(1)
    people = rng.normal([0.0, 0.9, 0.0], [0.3, 0.4, 0.3], (30, 17, 3))

    def heights(cams):
        out = []
        for cam in cams:
            uv, _ = cam.at(0).project(people[0])
            out.append(float(uv[:, 1].max() - uv[:, 1].min()) / cam.height)
        return np.array(out)

    for seed in range(6):
        plain = sample_rig(np.random.default_rng(seed), 4, (640, 480), people)
        again = sample_rig(np.random.default_rng(seed), 4, (640, 480), people, wide=0.0)
        for a, b in zip(plain, again):
            np.testing.assert_array_equal(a.t, b.t)
            assert not b.wide
        wide = sample_rig(np.random.default_rng(seed), 4, (640, 480), people, wide=1.0)
        assert all(c.wide for c in wide)
        ratio = heights(wide) / heights(plain)
        # the same cameras' angles and lenses, moved back along their line to the people
        assert np.all(ratio > 1 / (FARTHER[1] + 0.3)) and np.all(ratio < 1 / (FARTHER[0] - 0.2)), ratio
        for cam in wide:
            uv, _ = cam.at(0).project(people.reshape(-1, 3))
            assert np.all((uv >= 0) & (uv <= [cam.width, cam.height]))
