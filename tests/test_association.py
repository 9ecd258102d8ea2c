import numpy as np

from posecli.boxes import box_iou
from posecli.track.association import Observation, Tracker, oks


def person(cx, cy, h=100.0, conf=0.9):
    kps = np.array([[cx + dx, cy + dy] for dx, dy in [(0, -h / 2), (-10, 0), (10, 0), (0, h / 2)]])
    box = np.array([cx - h / 4, cy - h / 2, cx + h / 4, cy + h / 2])
    return Observation(box, kps, np.full(4, conf))


def test_iou_and_oks_values():
    assert box_iou([0, 0, 2, 2], [1, 1, 3, 3])[0, 0] == 1 / 7
    a = person(0, 0)
    assert oks(a.keypoints, a.confidence, a.keypoints, a.confidence, 100) == 1.0
    b = person(10, 0)  # shifted by one kappa*scale: exp(-1/2)
    assert abs(oks(a.keypoints, a.confidence, b.keypoints, b.confidence, 100) - np.exp(-0.5)) < 1e-9


def test_two_people_crossing_keep_their_ids():
    # Person A walks right, person B walks left, they cross at frame 20 (boxes overlap for several frames).
    tr = Tracker(max_age=10)
    seen = {"A": set(), "B": set()}
    for f in range(41):
        a = person(100 + 10 * f, 200, h=120)
        b = person(500 - 10 * f, 210, h=100)
        ids = tr.update(f, [b, a] if f % 2 else [a, b])  # input order must not matter
        ia, ib = (ids[1], ids[0]) if f % 2 else (ids[0], ids[1])
        seen["A"].add(ia)
        seen["B"].add(ib)
    assert len(seen["A"]) == 1 and len(seen["B"]) == 1 and seen["A"] != seen["B"]


def test_short_occlusion_keeps_id_long_one_does_not():
    tr = Tracker(max_age=5)
    ids = [tr.update(f, [person(100 + 5 * f, 100)])[0] for f in range(10)]
    ids += [tr.update(f, [person(100 + 5 * f, 100)])[0] for f in range(14, 20)]  # 4 frames hidden, moved on
    assert set(ids) == {1}
    later = tr.update(40, [person(100 + 5 * 40, 100)])[0]  # hidden 20 frames > max_age
    assert later == 2
    assert [tid for tid, _ in tr.tracks] == [1, 2] and len(tr.tracks[0][1]) == 16


def test_stitch_joins_a_piece_that_could_be_the_same_person():
    from posecli.track.association import stitch

    def piece(frames, cx):
        return [(f, person(cx + 5 * (f - frames[0]), 100)) for f in frames]

    a = piece(range(0, 10), 100)  # ends at x = 145
    b = piece(range(20, 30), 200)  # starts 55 px away after 10 frames: joinable
    far = piece(range(12, 18), 2000)  # starts far away: a different person
    overlapping = piece(range(5, 15), 1000)  # overlaps a in time, far from b
    out = stitch([(1, a), (2, b), (3, far), (4, overlapping)], max_gap=30, fps=30)
    ids = {tid: [f for f, _ in hist] for tid, hist in out}
    assert ids[1] == list(range(0, 10)) + list(range(20, 30))
    assert 2 not in ids and ids[3] == list(range(12, 18)) and 4 in ids
    assert stitch([(1, a), (2, b)], max_gap=5, fps=30) == [(1, a), (2, b)]  # gap longer than max_gap


def test_person_entering_late_gets_a_new_id_and_the_first_keeps_theirs():
    tr = Tracker(max_age=10)
    first = [tr.update(f, [person(100 + 3 * f, 100)]) for f in range(10)]
    both = [tr.update(f, [person(600 - 4 * f, 120, h=90), person(100 + 3 * f, 100)]) for f in range(10, 30)]
    assert all(ids == [1] for ids in first)
    assert all(ids == [2, 1] for ids in both)
