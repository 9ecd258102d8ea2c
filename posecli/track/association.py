"""Identity across frames: Hungarian assignment of people to tracks on box IoU, keypoint similarity and
appearance, with constant-velocity motion prediction and a maximum age so IDs survive short occlusions.

This is the SORT recipe (Bewley et al. 2016) with OKS added to the cost, because two people crossing have
overlapping boxes but distinct limbs, and DeepSORT's two guards against handing an identity to someone else:
a motion gate (a pose cannot be the same person if its centre moved further than a person can in that time,
in body sizes, or if its size changed too much) and an appearance term (``appearance``: colour histograms of
torso and legs, kept as a running model per track, updated only while the person overlaps nobody). Written
here (about 200 lines over scipy's linear_sum_assignment) rather than taken from a tracking package: the PyPI
trackers (deep_sort_realtime, bytetrack forks) track boxes only, bring appearance models or torchvision pins,
and cannot use keypoints.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..boxes import box_iou, box_size, overlap_of_smaller
from ..poses import shot_index
from . import appearance as looks

# Per-joint OKS falloff; 0.1 of the person's scale is the order of COCO's body-joint sigmas (0.07-0.11).
OKS_KAPPA = 0.1
AGE_BONUS, AGE_FRAMES = 0.05, 30
# Motion gate, in body sizes (the keypoint box's diagonal): a match may move its centre at most
# GATE_STILL + GATE_SPEED x seconds away from where the track's motion predicts it. 6 sizes/s is a sprint
# seen from the side (10 m/s for a 1.7 m tall person, whose box diagonal is ~1.0-1.2 heights).
GATE_STILL, GATE_SPEED = 0.5, 6.0
# Size gate: the box diagonal may change by at most this factor per second (and 1.5x from one frame to the
# next), more than a person walking towards a wide-angle camera does.
GATE_GROWTH_FRAME, GATE_GROWTH_SECOND = 1.5, 2.0
APPEARANCE_WEIGHT = 0.5  # share of appearance in the matching score when both sides have one (0.3 / 0.5 / 0.7 on the
# synth tracking bench: IDF1 0.803 / 0.818 / 0.818, ID switches 33 / 28 / 24; an equal share with geometry, not more,
# because real clothes differ less than the renders' random ones)
# Below this similarity a pose that overlaps nobody is not the track's person. On the synth tracking scenes
# (bench/track_mot.py, exact keypoints) one person 1 s apart scores 0.68 / 0.80 / 0.98 (1st / 5th / 50th
# percentile), two different people 0.18 / 0.64 / 0.80 (50th / 95th / 99th).
APPEARANCE_REJECT = 0.5
REACQUIRE_APPEARANCE = 0.75  # second stage: match on appearance alone from this similarity up
APPEARANCE_RATE = 0.1  # running model: 10 % of each clean frame
APPEARANCE_MIN_FRAMES = 3  # clean frames before a track's appearance is used
CLEAN_OVERLAP = 0.2  # a person overlapping another box by more than this does not update their model


@dataclass
class Observation:
    """One person in one frame, as any backend reports it."""

    box: np.ndarray  # (4,) xyxy pixels
    keypoints: np.ndarray  # (J, 2) pixels
    confidence: np.ndarray  # (J,)
    payload: Any = None  # backend-specific extras carried to the output
    appearance: np.ndarray | None = None  # appearance.describe() of this pose in its frame

    @property
    def size(self) -> float:
        return box_size(self.box)


@dataclass
class _Track:
    id: int
    box: np.ndarray
    keypoints: np.ndarray
    confidence: np.ndarray
    last: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # box centre, pixels per frame
    history: list[tuple[int, Observation]] = field(default_factory=list)
    appearance: np.ndarray | None = None  # running model (appearance.blend) from clean frames
    clean_frames: int = 0
    size: float = 0.0  # smoothed box diagonal

    def looks(self) -> np.ndarray | None:
        return self.appearance if self.clean_frames >= APPEARANCE_MIN_FRAMES else None

    def predicted(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        # Only the centre moves: extrapolating the box size would shrink or blow up the box whenever arms
        # swing in or out, which broke matches on real clips.
        shift = self.velocity * (frame - self.last)
        return self.box + np.tile(shift, 2), self.keypoints + shift


def oks(kp_a: np.ndarray, conf_a: np.ndarray, kp_b: np.ndarray, conf_b: np.ndarray, scale: float) -> float:
    """Object keypoint similarity over the joints both poses see (0 when they share none)."""
    both = (conf_a > 0.3) & (conf_b > 0.3)
    if not both.any() or scale <= 0:
        return 0.0
    d2 = ((kp_a[both] - kp_b[both]) ** 2).sum(-1)
    return float(np.exp(-d2 / (2 * (OKS_KAPPA * scale) ** 2)).mean())


class Tracker:
    """Feed ``update(frame, observations)`` frame by frame; read ``tracks`` at the end."""

    def __init__(self, max_age: int = 30, min_similarity: float = 0.1, iou_weight: float = 0.5,
                 velocity_smoothing: float = 0.5, fps: float = 30.0):
        self.max_age = max_age
        self.min_similarity = min_similarity
        self.iou_weight = iou_weight
        self.velocity_smoothing = velocity_smoothing
        self.fps = fps
        self._active: list[_Track] = []
        self._done: list[_Track] = []
        self._next_id = 1

    def plausible(self, t: _Track, frame: int, o: Observation, predicted_box: np.ndarray) -> bool:
        """The motion and size gates: could ``o`` be the person of track ``t``, ``frame - t.last`` frames on?"""
        seconds = (frame - t.last) / self.fps
        size = max(t.size, 1.0)
        centre_shift = np.linalg.norm((o.box[:2] + o.box[2:] - predicted_box[:2] - predicted_box[2:]) / 2)
        if centre_shift > size * (GATE_STILL + GATE_SPEED * seconds):
            return False
        growth = max(o.size / size, size / max(o.size, 1.0))
        return growth <= GATE_GROWTH_FRAME * GATE_GROWTH_SECOND ** seconds

    def similarity(self, frame: int, observations: list[Observation], clean: list[bool] | None = None) -> np.ndarray:
        sim = np.zeros((len(self._active), len(observations)))
        if not sim.size:
            return sim
        clean = clean or _clean(observations)
        preds = [t.predicted(frame) for t in self._active]
        iou = box_iou(np.stack([p[0] for p in preds]), np.stack([o.box for o in observations]))
        for i, (t, (box, kps)) in enumerate(zip(self._active, preds)):
            scale = float(np.sqrt(max(np.prod(box[2:] - box[:2]), 1.0)))
            model = t.looks()
            for j, o in enumerate(observations):
                if not self.plausible(t, frame, o, box):
                    continue
                geometry = self.iou_weight * iou[i, j] + (1 - self.iou_weight) * oks(
                    kps, t.confidence, o.keypoints, o.confidence, scale)
                if geometry < self.min_similarity:
                    continue
                same = looks.similarity(model, o.appearance)
                if same is not None and same < APPEARANCE_REJECT and clean[j]:
                    continue
                sim[i, j] = geometry if same is None else (1 - APPEARANCE_WEIGHT) * geometry + APPEARANCE_WEIGHT * same
        # On near ties an established track wins over a young one (often a duplicate that lived a few frames).
        maturity = np.array([min(len(t.history), AGE_FRAMES) / AGE_FRAMES for t in self._active])
        return sim + AGE_BONUS * maturity[:, None] * (sim > 0)

    def update(self, frame: int, observations: list[Observation]) -> list[int]:
        """Assign each observation a track id (new ids for unmatched ones); returns the ids in order."""
        self._retire(frame)
        clean = _clean(observations)
        sim = self.similarity(frame, observations, clean)
        ids = [0] * len(observations)
        matched_obs: set[int] = set()
        matched_tracks: set[int] = set()
        if sim.size:
            rows, cols = linear_sum_assignment(-sim)
            for r, c in zip(rows, cols):
                if sim[r, c] > 0:
                    self._extend(self._active[r], frame, observations[c], clean[c])
                    ids[c] = self._active[r].id
                    matched_obs.add(c)
                    matched_tracks.add(r)
        # Second stage (DeepSORT's idea): a person found again after a loss rarely overlaps where their track
        # predicted them; match the rest on appearance alone, within the motion gate.
        rest_t = [r for r in range(len(self._active)) if r not in matched_tracks and self._active[r].looks() is not None]
        rest_o = [c for c in range(len(observations)) if c not in matched_obs and observations[c].appearance is not None]
        if rest_t and rest_o:
            again = np.zeros((len(rest_t), len(rest_o)))
            for i, r in enumerate(rest_t):
                t = self._active[r]
                box = t.predicted(frame)[0]
                for j, c in enumerate(rest_o):
                    same = looks.similarity(t.looks(), observations[c].appearance)
                    if same is not None and same >= REACQUIRE_APPEARANCE and self.plausible(t, frame, observations[c], box):
                        again[i, j] = same
            for i, j in zip(*linear_sum_assignment(-again)):
                if again[i, j] > 0:
                    r, c = rest_t[i], rest_o[j]
                    self._extend(self._active[r], frame, observations[c], clean[c])
                    ids[c] = self._active[r].id
                    matched_obs.add(c)
        for j, o in enumerate(observations):
            if j not in matched_obs:
                t = _Track(self._next_id, o.box.astype(float), o.keypoints.astype(float), o.confidence, frame,
                           history=[], size=o.size)
                self._extend(t, frame, o, clean[j])
                self._next_id += 1
                self._active.append(t)
                ids[j] = t.id
        return ids

    def _extend(self, t: _Track, frame: int, o: Observation, clean: bool) -> None:
        if t.history:
            gap = max(frame - t.last, 1)
            v = ((o.box[:2] + o.box[2:]) - (t.box[:2] + t.box[2:])) / 2 / gap
            t.velocity = self.velocity_smoothing * t.velocity + (1 - self.velocity_smoothing) * v
            t.size = 0.7 * t.size + 0.3 * o.size
        t.box, t.keypoints, t.confidence, t.last = o.box.astype(float), o.keypoints.astype(float), o.confidence, frame
        if clean and o.appearance is not None and np.isfinite(o.appearance).all(1).any():
            t.appearance = looks.blend(t.appearance, o.appearance, max(APPEARANCE_RATE, 1 / (t.clean_frames + 1)))
            t.clean_frames += 1
        t.history.append((frame, o))

    def cut(self) -> None:
        """A shot cut: every track ends here (the next frame's people are matched to nobody seen before it;
        ``join_across_cuts`` may give them their ID back, on looks alone)."""
        self._done += self._active
        self._active = []

    def relight(self) -> None:
        """The scene's light changed colour: every track's look is learnt again from the next frames (until then
        it is matched on place and limbs alone, as a new track is)."""
        for t in self._active:
            t.appearance, t.clean_frames = None, 0

    def _retire(self, frame: int) -> None:
        keep = []
        for t in self._active:
            (keep if frame - t.last <= self.max_age else self._done).append(t)
        self._active = keep

    @property
    def next_id(self) -> int:
        return self._next_id

    @property
    def tracks(self) -> list[tuple[int, list[tuple[int, Observation]]]]:
        """(id, [(frame, observation), ...]) for every track ever started, in id order."""
        return [(t.id, t.history) for t in sorted(self._done + self._active, key=lambda t: t.id)]


def _clean(observations: list[Observation]) -> list[bool]:
    """Whether each pose overlaps no other one (its appearance then shows only this person)."""
    out = []
    for i, o in enumerate(observations):
        out.append(all(overlap_of_smaller(o.box, q.box) <= CLEAN_OVERLAP for j, q in enumerate(observations) if j != i))
    return out


STITCH_APPEARANCE = 0.6  # two pieces that look less alike than this are not joined, however close
REID_APPEARANCE = 0.85  # beyond max_gap, a piece joins an earlier one only when it looks this much alike...
REID_MARGIN = 0.1  # ...and no third piece looks nearly as much like it (people in the same kit)
PIECE_FRAMES = 15  # observations at a piece's end / start that describe its look
SPLIT_WINDOW = 15  # frames each side of a candidate identity change (split_by_appearance)
SPLIT_APPEARANCE = 0.6


def piece_appearance(history: list[tuple[int, Observation]], end: bool) -> np.ndarray | None:
    """The look of a piece at its end (or start): per-region median over its last (first) described frames."""
    seen = [o.appearance for _, o in (reversed(history) if end else history) if o.appearance is not None]
    return _median_look(seen[:PIECE_FRAMES])


def _median_look(descriptions: list[np.ndarray]) -> np.ndarray | None:
    if not descriptions:
        return None
    stack = np.stack(descriptions)
    out = np.full(stack.shape[1:], np.nan, np.float32)
    for r in range(stack.shape[1]):
        rows = stack[:, r][np.isfinite(stack[:, r]).all(1)]
        if len(rows):
            med = np.median(rows, axis=0)
            out[r] = med / max(med.sum(), 1e-9)
    return out if np.isfinite(out).all(1).any() else None


def _mean_look(descriptions: list[np.ndarray]) -> np.ndarray | None:
    if not descriptions:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a region unseen in every frame stays NaN
        out = np.nanmean(np.stack(descriptions), axis=0)
    return out if np.isfinite(out).all(1).any() else None


def split_by_appearance(tracks: list[tuple[int, list[tuple[int, Observation]]]], next_id: int,
                        lights: Sequence[int] = ()) -> list[tuple[int, list[tuple[int, Observation]]]]:
    """Cut a track where its look changes for good (the pose slid from one person onto another), offline.

    At each frame with ``SPLIT_WINDOW`` described observations on both sides, the median looks before and
    after are compared; where the least similar pair is below ``SPLIT_APPEARANCE`` the track is cut there
    (and each part is searched again). The new pieces get ids from ``next_id`` on; ``stitch`` may then join
    them to the right person. Looks are not compared across a change of light (``lights``: frames where the
    scene's light changed colour): everyone's look changes there.
    """
    lights = np.asarray(lights, dtype=np.int64)
    out = []
    todo = list(tracks)
    while todo:
        tid, hist = todo.pop(0)
        looks_at = [(i, o.appearance) for i, (_, o) in enumerate(hist) if o.appearance is not None]

        def similarity_at(k: int) -> float | None:
            first, last = hist[looks_at[k - SPLIT_WINDOW][0]][0], hist[looks_at[k + SPLIT_WINDOW - 1][0]][0]
            if ((lights > first) & (lights <= last)).any():
                return None
            # window means (not medians): the change point is where the two windows are purest
            return looks.similarity(_mean_look([a for _, a in looks_at[k - SPLIT_WINDOW:k]]),
                                    _mean_look([a for _, a in looks_at[k:k + SPLIT_WINDOW]]))

        best, cut = SPLIT_APPEARANCE, None
        candidates = range(SPLIT_WINDOW, len(looks_at) - SPLIT_WINDOW + 1)
        for k in candidates[::3]:  # coarse pass, then refined around the lowest point
            same = similarity_at(k)
            if same is not None and same < best:
                best, cut = same, k
        if cut is not None:
            for k in range(max(cut - 2, candidates.start), min(cut + 3, candidates.stop)):
                same = similarity_at(k)
                if same is not None and same < best:
                    best, cut = same, k
            cut = looks_at[cut][0]
        if cut is None:
            out.append((tid, hist))
            continue
        todo[:0] = [(tid, hist[:cut]), (next_id, hist[cut:])]
        next_id += 1
    return sorted(out, key=lambda x: x[1][0][0])


SWAP_MARGIN = 0.05  # a track's look before must resemble the other remainder this much more than its own
CROSSING_HORIZON = 2.0  # seconds before and after a crossing searched for frames that show each person alone
MIN_LOOK_FRAMES = 3  # clean described frames needed on each side
CROSSING_GAP = 0.2  # seconds: boxes that stop overlapping for less than this (a swinging arm) are the same crossing


def resolve_crossings(tracks: list[tuple[int, list[tuple[int, Observation]]]], fps: float
                      ) -> list[tuple[int, list[tuple[int, Observation]]]]:
    """Undo identity swaps where two people crossed, offline.

    While two people overlap, geometry cannot tell them apart and their colours mix, so the frame-to-frame
    matcher may leave each track on the other person when they separate. Both tracks go on, so neither
    ``split_by_appearance`` (which needs one track's look to change beyond an absolute threshold, and people in
    similar clothes never cross it) nor ``stitch`` sees anything to repair. Here each episode where two tracks'
    boxes overlap (more than ``CLEAN_OVERLAP`` of the smaller one) is judged after the fact, by comparison
    rather than by threshold: each track's look before the episode (median over its frames alone, within
    ``CROSSING_HORIZON``) against both tracks' looks after it; when, on average over the tracks seen before,
    a track's earlier look resembles the other remainder more than its own by ``SWAP_MARGIN``, the tracks'
    remainders are exchanged from the frame where they overlapped most. Episodes are judged in the order
    they end, each once.
    """
    hist = {tid: dict(h) for tid, h in tracks}
    horizon = max(1, round(CROSSING_HORIZON * fps))
    # Overlaps are between observations, whoever carries them: episodes are found once, and each is judged
    # on the tracks that own its two observations at that point (an earlier exchange may have moved them).
    episodes, alone = _crossings(hist, max(2, round(CROSSING_GAP * fps)))
    owner = {id(o): tid for tid, h in hist.items() for o in h.values()}
    for _, start, end, obs_a, obs_b, cut in episodes:
        a, b = owner[id(obs_a)], owner[id(obs_b)]
        if a == b:
            continue

        def look(tid: int, before: bool) -> np.ndarray | None:
            span = range(start - horizon, start) if before else range(end + 1, end + 1 + horizon)
            seen = [hist[tid][f].appearance for f in span if f in hist[tid] and id(hist[tid][f]) in alone
                    and hist[tid][f].appearance is not None]
            seen = seen[-PIECE_FRAMES:] if before else seen[:PIECE_FRAMES]
            return _median_look(seen) if len(seen) >= MIN_LOOK_FRAMES else None

        pre_a, pre_b, post_a, post_b = look(a, True), look(b, True), look(a, False), look(b, False)
        # per track seen before the episode: how much more its look resembles the other track's remainder
        # than its own (a track that started during the crossing, often a fresh detection of the person the
        # other track lost, has no look before and is judged from the other side alone)
        gains = [looks.similarity(pre, other) - looks.similarity(pre, own)
                 for pre, own, other in ((pre_a, post_a, post_b), (pre_b, post_b, post_a))
                 if pre is not None and own is not None and other is not None]
        gains = [g for g in gains if np.isfinite(g)]
        if gains and float(np.mean(gains)) > SWAP_MARGIN:
            tail_a = {f: o for f, o in hist[a].items() if f >= cut}
            tail_b = {f: o for f, o in hist[b].items() if f >= cut}
            hist[a] = {**{f: o for f, o in hist[a].items() if f < cut}, **tail_b}
            hist[b] = {**{f: o for f, o in hist[b].items() if f < cut}, **tail_a}
            owner.update({id(o): b for o in tail_a.values()} | {id(o): a for o in tail_b.values()})
    out = [(tid, sorted(h.items(), key=lambda x: x[0])) for tid, h in hist.items() if h]
    return sorted(out, key=lambda x: x[1][0][0])


def _crossings(hist: dict[int, dict[int, Observation]], gap: int):
    """Overlap episodes between pairs of tracks, sorted by their last frame: (end, start, end, the two tracks'
    observations at the frame of most overlap, that frame), overlaps at most ``gap`` frames apart counting as
    one; and the ids of the observations that overlap nobody."""
    by_frame: dict[int, list[int]] = {}
    for tid, h in hist.items():
        for f in h:
            by_frame.setdefault(f, []).append(tid)
    together: dict[tuple[int, int], list[tuple[int, float]]] = {}
    alone = set()
    for f, tids in by_frame.items():
        crowded = set()
        for i, a in enumerate(tids):
            for b in tids[i + 1:]:
                ov = overlap_of_smaller(hist[a][f].box, hist[b][f].box)
                if ov > CLEAN_OVERLAP:
                    together.setdefault((min(a, b), max(a, b)), []).append((f, ov))
                    crowded.update((a, b))
        alone.update(id(hist[t][f]) for t in tids if t not in crowded)
    episodes = []
    for (a, b), frames in together.items():
        frames.sort()
        run = [frames[0]]
        for item in frames[1:] + [(None, 0.0)]:
            if item[0] is not None and item[0] - run[-1][0] <= gap:  # apart for a moment: the same crossing
                run.append(item)
                continue
            cut = max(run, key=lambda x: x[1])[0]
            episodes.append((run[-1][0], run[0][0], run[-1][0], hist[a][cut], hist[b][cut], cut))
            run = [item]
    return sorted(episodes, key=lambda e: (e[0], e[1], e[5])), alone


def stitch(tracks: list[tuple[int, list[tuple[int, Observation]]]], max_gap: int, fps: float,
           speed: float = 2.0, reid_gap: int | None = None, cuts: Sequence[int] = (), lights: Sequence[int] = ()
           ) -> list[tuple[int, list[tuple[int, Observation]]]]:
    """Join a track that ends to one that starts later, offline, when it could be the same person.

    The frame-to-frame matcher needs overlap or similar limbs, so someone unseen while jumping, turning or
    passing behind an object or another person comes back under a new ID. Whole videos are processed at once,
    so these pieces can be joined afterwards: B may continue A when it starts within ``max_gap`` frames after
    A ends, its first box centre lies within (1 + ``speed`` x gap in seconds) body heights of A's last one,
    and (when both have an appearance) it looks like A (``STITCH_APPEARANCE``). A person who left the frame
    or stayed hidden longer, up to ``reid_gap`` frames, is re-identified on appearance alone, when the
    match is close (``REID_APPEARANCE``) and unambiguous (``REID_MARGIN``). Best pairs are joined first;
    each piece joins at most one before and one after. Nothing is joined across a shot cut (``cuts``: the
    frames that start a new shot) here: ``join_across_cuts`` pairs people there, on looks alone. Across a change
    of light (``lights``) two pieces' looks say nothing, and only their places are compared.
    """
    pieces = {tid: list(hist) for tid, hist in tracks}
    ends = {tid: piece_appearance(h, end=True) for tid, h in pieces.items()}
    starts = {tid: piece_appearance(h, end=False) for tid, h in pieces.items()}
    reid_gap = max_gap if reid_gap is None else max(reid_gap, max_gap)
    memo: dict[tuple[int, int], float | None] = {}

    light_frames = np.asarray(lights, dtype=np.int64)

    def looks_like(a: int, b: int) -> float | None:  # each pair's similarity once, only where it is asked
        if (a, b) not in memo:
            relit = ((light_frames > pieces[a][-1][0]) & (light_frames <= pieces[b][0][0])).any()
            memo[a, b] = None if relit else looks.similarity(ends[a], starts[b])
        return memo[a, b]

    # which shot each piece starts and ends in (once per piece: a long broadcast has hundreds of cuts)
    ids = list(pieces)
    first_shot = dict(zip(ids, shot_index([pieces[t][0][0] for t in ids], cuts).tolist()))
    last_shot = dict(zip(ids, shot_index([pieces[t][-1][0] for t in ids], cuts).tolist()))

    def centre_height(o: Observation) -> tuple[np.ndarray, float]:
        return (o.box[:2] + o.box[2:]) / 2, float(o.box[3] - o.box[1])

    candidates = []
    for a, ha in pieces.items():
        end, last = ha[-1]
        ca, h_a = centre_height(last)
        for b, hb in pieces.items():
            start, first = hb[0]
            gap = start - end
            if a == b or not 0 < gap <= reid_gap or last_shot[a] != first_shot[b]:
                continue
            same = looks_like(a, b)
            if same is not None and same < STITCH_APPEARANCE:
                continue
            cb, h_b = centre_height(first)
            limit = max(h_a, h_b) * (1 + speed * gap / fps)
            ratio = float(np.linalg.norm(cb - ca)) / limit
            if gap <= max_gap and ratio <= 1:
                candidates.append((ratio - (0 if same is None else same), a, b))
            elif same is not None and same >= REID_APPEARANCE:
                others = [looks_like(a, c) for c in pieces if c not in (a, b)]
                if all(o is None or o < same - REID_MARGIN for o in others):
                    candidates.append((2.0 - same, a, b))  # after every nearby join
    nxt: dict[int, int] = {}
    prev: dict[int, int] = {}
    for _, a, b in sorted(candidates):
        if a in nxt or b in prev:
            continue
        nxt[a], prev[b] = b, a
    out = []
    for tid in sorted(pieces):
        if tid in prev:
            continue
        hist, cur = list(pieces[tid]), tid
        while cur in nxt:
            cur = nxt[cur]
            hist += pieces[cur]
        out.append((tid, hist))
    return join_across_cuts(out, cuts, max_gap)


def join_across_cuts(tracks: list[tuple[int, list[tuple[int, Observation]]]], cuts: Sequence[int], max_gap: int
                     ) -> list[tuple[int, list[tuple[int, Observation]]]]:
    """Across each shot cut, someone seen just before it (within ``max_gap`` frames, in the shot it ends) keeps
    their ID in someone found just after it only when the two look alike beyond doubt: at least
    ``STITCH_APPEARANCE``, and by ``REID_MARGIN`` more than either looks like anyone else across that cut.
    Positions say nothing across a cut (another camera), and people in similar clothes are common (a team, a
    class): a new ID there is visible and fixable, an identity handed to someone else is not."""
    merged = dict(tracks)
    bounds = [-np.inf, *sorted(cuts), np.inf]
    for previous, c, following in zip(bounds, bounds[1:], bounds[2:]):
        before = [t for t, h in merged.items() if max(previous, c - max_gap) <= h[-1][0] < c]
        after = [t for t, h in merged.items() if c <= h[0][0] < min(following, c + max_gap)]
        if not before or not after:
            continue
        ends = [piece_appearance(merged[a], end=True) for a in before]
        starts = [piece_appearance(merged[b], end=False) for b in after]
        same = np.full((len(before), len(after)), -1.0)  # -1: a side without a look, never joined
        for i, end in enumerate(ends):
            for j, start in enumerate(starts):
                s = looks.similarity(end, start)
                same[i, j] = -1.0 if s is None else s
        pairs = []
        for i, j in zip(*np.nonzero(same >= STITCH_APPEARANCE)):
            rivals = np.concatenate([np.delete(same[i], j), np.delete(same[:, j], i)])
            if (rivals < same[i, j] - REID_MARGIN).all():
                pairs.append((before[i], after[j]))
        for a, b in pairs:  # mutual best by a margin: at most one pair per person
            merged[a] = merged[a] + merged.pop(b)
    return sorted(merged.items())
