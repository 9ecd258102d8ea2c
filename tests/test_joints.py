import numpy as np
import pytest

from posecli import joints
from posecli.errors import PoseCliError


def test_registered_sizes():
    assert {n: len(joints.get(n)) for n in ("coco17", "h36m17", "blazepose33", "smpl24")} == {
        "coco17": 17, "h36m17": 17, "blazepose33": 33, "smpl24": 24}


def test_symmetry_matches_published_metadata():
    # VideoPose3D: COCO left = odd ids; H36M left = [4, 5, 6, 11, 12, 13] with right [1, 2, 3, 14, 15, 16].
    assert joints.get("coco17").symmetry == ([1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16])
    assert joints.get("h36m17").symmetry == ([4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16])
    left, right = joints.get("blazepose33").symmetry
    assert len(left) == 16 and all(l % 2 == 1 for l in left if l >= 11)
    left, right = joints.get("smpl24").symmetry
    assert [joints.SMPL24.joints[i] for i in left][:2] == ["left_hip", "left_knee"]


@pytest.mark.parametrize("name", ["coco17", "h36m17", "blazepose33", "smpl24", "body25b"])
def test_flip_is_an_involution_and_swaps_sides(name):
    js = joints.get(name)
    perm = js.flip_permutation
    assert (perm[perm] == np.arange(len(js))).all()
    for i, j in enumerate(perm):
        a, b = js.joints[i], js.joints[j]
        if a.startswith("left_"):
            assert b == "right_" + a[5:]
        elif not a.startswith("right_"):
            assert i == j


def test_parents_form_trees():
    for name in ("h36m17", "smpl24"):
        parents = joints.get(name).parents
        assert parents[0] == -1 and all(p < j for j, p in enumerate(parents) if j)


def test_blazepose_to_coco_matches_formats_note():
    m = joints.mapping_matrix("blazepose33", "coco17")
    assert list(m.argmax(1)) == [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]


def test_convert_averages_and_propagates_missing():
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(4, 17, 2)).astype(np.float32)
    conf = rng.uniform(0.2, 1.0, size=(4, 17)).astype(np.float32)
    pts[2, 11] = np.nan  # left hip missing in frame 2
    conf[2, 11] = 0
    out, oc = joints.convert(pts, conf, "coco17", "h36m17")
    h = joints.get("h36m17")
    np.testing.assert_allclose(out[0, h.index("pelvis")], (pts[0, 11] + pts[0, 12]) / 2, rtol=1e-6)
    assert oc[0, h.index("pelvis")] == pytest.approx(min(conf[0, 11], conf[0, 12]))
    assert np.isnan(out[2, h.index("pelvis")]).all() and oc[2, h.index("pelvis")] == 0
    np.testing.assert_allclose(out[1, h.index("left_wrist")], pts[1, 9])
    back, bc = joints.convert(out, oc, "h36m17", "coco17")
    assert np.isnan(back[:, 1]).all() and (bc[:, 1] == 0).all()  # eyes do not exist in H36M
    np.testing.assert_allclose(back[0, 5:], pts[0, 5:], rtol=1e-6)


def test_unknown_set_and_map_errors():
    with pytest.raises(PoseCliError, match="unknown joint set"):
        joints.get("nope")
    with pytest.raises(PoseCliError, match="no joint map"):
        joints.mapping_matrix("coco17", "blazepose33")


def test_body25b_extends_coco():
    assert joints.get("body25b").joints[:17] == joints.COCO17.joints
    assert list(joints.mapping_matrix("body25b", "coco17").argmax(1)) == list(range(17))
