"""One test per distinct failure the reader fuzzing found (issue 21): the smallest input that showed it, and the
one-line posecli error it must now give. ``tests/fuzz_inputs.py`` holds the fuzzing itself."""
import io
import json
import zipfile

import numpy as np
import pytest

from posecli.errors import PoseCliError
from posecli.formats import read_poses, write_poses
from posecli.poses import KEYPOINTS_2D, Keypoints, Poses, Track

import fuzz_inputs


def one_line_error(fn, *args, match=None):
    with pytest.raises(PoseCliError, match=match) as info:
        fn(*args)
    assert "\n" not in str(info.value)
    return str(info.value)


def tiny_poses():
    pts = np.arange(34, dtype=np.float32).reshape(1, 17, 2)
    return Poses([Track(1, [0], [0.0], {KEYPOINTS_2D: Keypoints("coco17", pts, np.ones((1, 17), np.float32))})],
                 fps=30.0)


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def native_arrays(tmp_path):
    write_poses(tiny_poses(), tmp_path / "seed.npz")
    with np.load(tmp_path / "seed.npz") as z:
        return {k: z[k] for k in z.files}


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


# ---- native NPZ ----

def test_npz_member_declaring_terabytes_is_refused_before_allocating(tmp_path):
    """Was MemoryError (np.load allocated the shape the .npy header declares)."""
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }"
    npy = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 16
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("schema.npy", npy)
    one_line_error(read_poses, write(tmp_path, "x.npz", buf.getvalue()), match="declares 8000000000000 bytes")


def test_npz_with_corrupt_deflate_stream_is_an_input_error(tmp_path):
    """Was zlib.error: Error -3 while decompressing data."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("schema.npy", b"\x93NUMPY" + b"x" * 200)
    data = bytearray(buf.getvalue())
    start = 30 + len("schema.npy")
    data[start:start + 8] = b"\xff" * 8  # the compressed stream, not the zip headers
    one_line_error(read_poses, write(tmp_path, "x.npz", bytes(data)), match="not a readable NPZ|damaged")


def test_native_npz_never_unpickles(tmp_path):
    """A pickled object array is refused, never loaded (a posecli NPZ holds none)."""
    arrays = native_arrays(tmp_path)
    arrays["extra"] = np.array([fuzz_inputs._Trap()], dtype=object)
    fuzz_inputs.TRAP_MARKER.unlink(missing_ok=True)
    one_line_error(read_poses, write(tmp_path, "x.npz", npz_bytes(**arrays)), match="pickled object array")
    assert not fuzz_inputs.TRAP_MARKER.exists()


def test_vp3d_npz_never_runs_code_from_its_pickles(tmp_path):
    """Was: the trap object was unpickled (read_vp3d used allow_pickle=True)."""
    fuzz_inputs.TRAP_MARKER.unlink(missing_ok=True)
    path = write(tmp_path, "x.npz", npz_bytes(positions_2d=np.array([fuzz_inputs._Trap()], dtype=object)))
    one_line_error(read_poses, path, match="refusing builtins|not a readable pickled")
    assert not fuzz_inputs.TRAP_MARKER.exists()


def test_native_npz_header_null_is_a_schema_error(tmp_path):
    """Was AttributeError: 'NoneType' object has no attribute 'get'."""
    arrays = native_arrays(tmp_path)
    arrays["header"] = np.array("null")
    one_line_error(read_poses, write(tmp_path, "x.npz", npz_bytes(**arrays)), match="no list of tracks")


@pytest.mark.parametrize("fps", ['"x"', "[]", "[1, 2]", "true"])
def test_native_fps_of_the_wrong_type_is_a_schema_error(tmp_path, fps):
    """Was TypeError/ValueError in Poses.validate (np.isfinite of a string or list)."""
    arrays = native_arrays(tmp_path)
    header = json.loads(str(arrays["header"]))
    arrays["header"] = np.array(json.dumps(header).replace('"fps": 30.0', f'"fps": {fps}'))
    one_line_error(read_poses, write(tmp_path, "x.npz", npz_bytes(**arrays)), match="fps is")


def test_native_npz_without_version_is_a_schema_error(tmp_path):
    """Was KeyError: 'version'."""
    arrays = native_arrays(tmp_path)
    del arrays["version"]
    one_line_error(read_poses, write(tmp_path, "x.npz", npz_bytes(**arrays)), match="no 'version'")


def test_native_npz_version_not_a_number_is_a_schema_error(tmp_path):
    """Was ValueError: invalid literal for int() with base 10: 'x'."""
    arrays = native_arrays(tmp_path)
    arrays["version"] = np.array("x")
    one_line_error(read_poses, write(tmp_path, "x.npz", npz_bytes(**arrays)), match="'version' is not a single")


def test_native_npz_array_of_strings_is_a_schema_error(tmp_path):
    """Was ValueError: could not convert string to float (a camera/points array of dtype <U)."""
    arrays = native_arrays(tmp_path)
    arrays["camera/K"] = np.array(["x"])
    one_line_error(read_poses, write(tmp_path, "x.npz", npz_bytes(**arrays)), match="expected numbers")


# ---- native JSON ----

def test_native_json_camera_not_a_dict_is_a_schema_error(tmp_path):
    """Was AttributeError: 'list' object has no attribute 'items'."""
    text = '{"schema": "posecli.poses", "version": 1, "camera": [1], "tracks": []}'
    one_line_error(read_poses, write(tmp_path, "x.json", text), match="camera is not a dictionary")


def test_native_json_fps_empty_list_is_a_schema_error(tmp_path):
    """Was ValueError: The truth value of an empty array is ambiguous (Poses.validate)."""
    text = '{"schema": "posecli.poses", "version": 1, "fps": [], "tracks": []}'
    one_line_error(read_poses, write(tmp_path, "x.json", text), match="fps is")


# ---- COCO JSON ----

COCO_KP = ", ".join(["1.0, 2.0, 1.0"] * 17)


@pytest.mark.parametrize("bbox", ['[1, 2, [3]]', '{"a": 1}', '[1, 2, 3]'])
def test_coco_bbox_of_the_wrong_shape_is_a_schema_error(tmp_path, bbox):
    """Was ValueError (inhomogeneous shape) / TypeError (float() of a dict) when stacking the boxes."""
    text = f'[{{"image_id": 0, "keypoints": [{COCO_KP}], "bbox": {bbox}}}]'
    one_line_error(read_poses, write(tmp_path, "x.json", text), match="bbox is not")


@pytest.mark.parametrize("image_id", ["Infinity", "1e400", "99999999999999999999999999"])
def test_coco_image_id_out_of_range_is_a_schema_error(tmp_path, image_id):
    """Was OverflowError (int(inf) in the reader; a huge int in the int64 frame array)."""
    text = f'[{{"image_id": {image_id}, "keypoints": [{COCO_KP}]}}]'
    one_line_error(read_poses, write(tmp_path, "x.json", text), match="image_id is")


def test_coco_keypoint_beyond_float_range_is_a_schema_error(tmp_path):
    """Was OverflowError: int too large to convert to float."""
    text = f'[{{"image_id": 0, "keypoints": [{"9" * 400}, {COCO_KP[5:]}]}}]'
    one_line_error(read_poses, write(tmp_path, "x.json", text), match="malformed COCO keypoints")


# ---- VideoPose3D NPZ ----

def vp3d(positions_3d=None, **extra):
    arrays = {"positions_3d": np.array({"S1": {"walk": positions_3d}}, dtype=object), **extra}
    return npz_bytes(**arrays)


def test_vp3d_positions_not_a_dict_is_a_schema_error(tmp_path):
    """Was ValueError: The truth value of an array with more than one element is ambiguous."""
    path = write(tmp_path, "x.npz", npz_bytes(positions_2d=np.zeros(3)))
    one_line_error(read_poses, path, match="positions_2d is not a dictionary")


def test_vp3d_zero_dimensional_array_is_a_schema_error(tmp_path):
    """Was TypeError: len() of unsized object."""
    one_line_error(read_poses, write(tmp_path, "x.npz", vp3d(np.array(1.0))), match="does not fit")


def test_vp3d_one_dimensional_3d_array_is_a_schema_error(tmp_path):
    """Was IndexError: tuple index out of range."""
    one_line_error(read_poses, write(tmp_path, "x.npz", vp3d(np.zeros(4))), match="does not fit")


def test_vp3d_video_metadata_not_a_dict_is_a_schema_error(tmp_path):
    """Was AttributeError: 'str' object has no attribute 'get'."""
    meta = np.array({"video_metadata": {"S1": "x"}}, dtype=object)
    path = write(tmp_path, "x.npz", vp3d(np.zeros((2, 17, 3)), metadata=meta))
    one_line_error(read_poses, path, match="video_metadata")


def test_vp3d_video_size_not_a_number_is_a_schema_error(tmp_path):
    """Was TypeError: int() argument must be ... not 'list' (Poses.validate of the width)."""
    meta = np.array({"video_metadata": {"S1": {"w": [1], "fps": 50}}}, dtype=object)
    path = write(tmp_path, "x.npz", vp3d(np.zeros((2, 17, 3)), metadata=meta))
    one_line_error(read_poses, path, match="video_metadata w is")


def test_vp3d_own_file_still_reads(tmp_path):
    """The restricted unpickler still reads what posecli (and VideoPose3D) write."""
    write_poses(tiny_poses(), tmp_path / "v.npz", "vp3d")
    assert len(read_poses(tmp_path / "v.npz").tracks) == 1


# ---- TRC ----

TRC_HEAD = ("PathFileType\t4\t(X/Y/Z)\tx.trc\n"
            "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames\n"
            "30\t30\t1\t1\tm\t30\t0\t1\nFrame#\tTime\tHip\t\t\n\t\tX1\tY1\tZ1\n\n")


def test_trc_coordinate_not_a_number_is_a_schema_error(tmp_path):
    """Was ValueError: could not convert string to float (the cell parse was outside the try)."""
    path = write(tmp_path, "x.trc", TRC_HEAD + "1\t0.0\tNumFrames\t0\t0\n")
    one_line_error(read_poses, path, match="line 7")


def test_trc_frame_number_out_of_range_is_a_schema_error(tmp_path):
    """Was OverflowError: Python int too large to convert to C long (int(inf) / the int64 frame array)."""
    for frame in ("1e300", "inf"):
        path = write(tmp_path, "x.trc", TRC_HEAD + f"{frame}\t0.0\t1\t2\t3\n")
        one_line_error(read_poses, path, match="frame number is")


def test_trc_repeated_marker_names_are_a_schema_error(tmp_path):
    """Found while fixing the above: two markers of one name reached JointSet as ValueError (duplicate names)."""
    head = TRC_HEAD.replace("\t1\t1\tm", "\t1\t2\tm").replace("Hip\t\t\n", "Hip\t\t\tHip\t\t\n")
    one_line_error(read_poses, write(tmp_path, "x.trc", head + "1\t0.0\t1\t2\t3\t4\t5\t6\n"), match="repeat")


# ---- CSV ----

CSV_HEAD = "track_id,frame,time," + ",".join(f"{j}_{a}" for j in ("a", "b") for a in ("x", "y", "conf")) + "\n"


def test_csv_not_utf8_is_a_schema_error(tmp_path):
    """Was UnicodeDecodeError."""
    path = write(tmp_path, "x.csv", b"\xff\xfe" + CSV_HEAD.encode("utf-16-le"))
    one_line_error(read_poses, path, match="not a readable CSV")


def test_csv_repeated_header_line_is_a_schema_error(tmp_path):
    """Was ValueError: invalid literal for int() with base 10: 'track_id'."""
    path = write(tmp_path, "x.csv", CSV_HEAD + CSV_HEAD)
    one_line_error(read_poses, path, match="track_id is")


def test_csv_frame_out_of_range_is_a_schema_error(tmp_path):
    """Was OverflowError: Python int too large to convert to C long."""
    path = write(tmp_path, "x.csv", CSV_HEAD + "1,99999999999999999999999,0.0,1,2,1,3,4,1\n")
    one_line_error(read_poses, path, match="frame is")


# ---- OpenPose folders ----

def openpose(tmp_path, files):
    folder = tmp_path / "json"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_openpose_keypoints_not_triples_is_a_schema_error(tmp_path):
    """Was ValueError: cannot reshape array of size 74 into shape (3)."""
    folder = openpose(tmp_path, {"a_0.json": json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 74}]})})
    one_line_error(read_poses, folder, match="pose_keypoints_2d is not")


@pytest.mark.parametrize("doc", ["true", '{"people": 1.5}', '{"people": [true]}'])
def test_openpose_document_of_the_wrong_type_is_a_schema_error(tmp_path, doc):
    """Was AttributeError: 'bool' object has no attribute 'get' / TypeError: 'float' object is not iterable."""
    one_line_error(read_poses, openpose(tmp_path, {"a_0.json": doc}), match="no list of people")


def test_openpose_person_id_list_of_lists_is_a_schema_error(tmp_path):
    """Was TypeError: int() argument must be ... not 'list'."""
    doc = json.dumps({"people": [{"person_id": [[1]], "pose_keypoints_2d": [1.0, 2.0, 0.5] * 25}]})
    one_line_error(read_poses, openpose(tmp_path, {"a_0.json": doc}), match="person_id is")


def test_openpose_frame_number_out_of_range_is_a_schema_error(tmp_path):
    """Was OverflowError: Python int too large to convert to C long."""
    doc = json.dumps({"people": [{"pose_keypoints_2d": [1.0, 2.0, 0.5] * 25}]})
    one_line_error(read_poses, openpose(tmp_path, {"a_99999999999999999999999_keypoints.json": doc}),
                   match="frame number in the file name")


# ---- Pose2Sim calibration TOML ----

CALIB = ('[cam_01]\nname = "cam_01"\nsize = [ 640.0, 480.0]\nmatrix = [ [ 500.0, 0.0, 320.0], [ 0.0, 500.0, 240.0], '
         '[ 0.0, 0.0, 1.0]]\ndistortions = [ 0.0, 0.0, 0.0, 0.0]\nrotation = [ 0.1, 0.2, 0.3]\n'
         'translation = [ 0.0, 0.0, 3.0]\nfisheye = false\n')


def test_calibration_not_utf8_is_an_input_error(tmp_path):
    """Was UnicodeDecodeError."""
    from posecli.synth.rig import read_calibration

    one_line_error(read_calibration, write(tmp_path, "c.toml", CALIB.encode("utf-16")), match="not a readable TOML")


@pytest.mark.parametrize("size", ["[ 0.0, 480.0]", "[ -640.0, 480.0]", "[ inf, 480.0]", "[ nan, 480.0]"])
def test_calibration_size_not_positive_finite_is_a_schema_error(tmp_path, size):
    """Was a camera of size 0 or negative (an invalid result), or OverflowError: cannot convert float infinity."""
    from posecli.synth.rig import read_calibration

    path = write(tmp_path, "c.toml", CALIB.replace("[ 640.0, 480.0]", size))
    one_line_error(read_calibration, path, match="size")


def test_calibration_huge_rotation_vector_is_a_schema_error(tmp_path):
    """Was a camera whose rotation matrix is NaN (cv2.Rodrigues of 1e300): an invalid result."""
    from posecli.synth.rig import read_calibration

    path = write(tmp_path, "c.toml", CALIB.replace("[ 0.1, 0.2, 0.3]", "[ 1e300, 0.2, 0.3]"))
    one_line_error(read_calibration, path, match="not a rotation vector")


# ---- synth manifest ----

def test_manifest_clips_not_a_list_is_an_input_error(tmp_path):
    """Was returned as valid (the dataset code then fails on manifest["clips"])."""
    from posecli.synth.dataset import read_manifest

    path = write(tmp_path, "manifest.json", '{"schema": "posecli.synth", "options": {}, "clips": null}')
    one_line_error(read_manifest, path, "fix it", match="list of clips")


def test_manifest_not_utf8_is_an_input_error(tmp_path):
    """Was UnicodeDecodeError."""
    from posecli.synth.dataset import read_manifest

    path = write(tmp_path, "manifest.json", b"\xff" + b'{"schema": "posecli.synth"}')
    one_line_error(read_manifest, path, "fix it", match="unreadable manifest")


# ---- found by the long run (bench/fuzz_readers.py) ----

def test_npz_member_with_unbalanced_header_is_an_input_error(tmp_path):
    """Was tokenize.TokenError: ('EOF in multi-line statement', ...) from numpy's .npy header parser."""
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (3,"
    npy = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("schema.npy", npy)
    one_line_error(read_poses, write(tmp_path, "x.npz", buf.getvalue()), match="not a readable NPZ")


@pytest.mark.parametrize("field", ["width", "fps"])
def test_native_header_number_beyond_float_range_is_a_schema_error(tmp_path, field):
    """Was OverflowError: int too large to convert to float (width checked as an integer, fps as a float)."""
    arrays = native_arrays(tmp_path)
    header = json.loads(str(arrays["header"]))
    header[field] = 10 ** 400
    arrays["header"] = np.array(json.dumps(header))
    one_line_error(read_poses, write(tmp_path, "x.npz", npz_bytes(**arrays)), match=f"{field} is an integer of")


@pytest.mark.parametrize("reader", ["native_json", "coco_json", "openpose", "manifest", "calibration"])
def test_integer_of_5000_digits_is_a_posecli_error(tmp_path, reader):
    """Was ValueError: Exceeds the limit (4300 digits) for integer string conversion (json/tomllib parsing)."""
    from posecli.synth.dataset import read_manifest
    from posecli.synth.rig import read_calibration

    big = "9" * 5000
    if reader == "openpose":
        one_line_error(read_poses, openpose(tmp_path, {"a_0.json": f'{{"people": [], "v": {big}}}'}))
    elif reader == "manifest":
        one_line_error(read_manifest, write(tmp_path, "manifest.json", f'{{"schema": {big}}}'), "fix it")
    elif reader == "calibration":
        one_line_error(read_calibration, write(tmp_path, "c.toml", CALIB.replace("3.0]", big + "]")))
    else:
        one_line_error(read_poses, write(tmp_path, "x.json", f'{{"schema": "posecli.poses", "fps": {big}}}'))




def test_vp3d_start_frame_array_gives_a_one_line_error(tmp_path):
    """Was a multi-line message: the repr of a 4-D start_frame array spans lines."""
    meta = np.array({"video_metadata": {"S1": {"start_frame": np.zeros((2, 2, 2, 2), int)}}}, dtype=object)
    path = write(tmp_path, "x.npz", vp3d(np.zeros((2, 17, 3)), metadata=meta))
    one_line_error(read_poses, path, match="start_frame is")


def test_vp3d_subject_name_with_a_newline_gives_a_one_line_error(tmp_path):
    """Found while fixing the above: a subject name with a newline went into the message as it is."""
    path = write(tmp_path, "x.npz", npz_bytes(positions_3d=np.array({"S\n1": {"walk": np.zeros(4)}}, dtype=object)))
    one_line_error(read_poses, path, match="does not fit")


def test_openpose_keypoint_beyond_float_range_is_a_schema_error(tmp_path):
    """Was OverflowError: int too large to convert to float."""
    doc = '{"people": [{"pose_keypoints_2d": [' + "9" * 400 + ", " + ", ".join(["1.0"] * 74) + "]}]}"
    one_line_error(read_poses, openpose(tmp_path, {"a_0.json": doc}), match="beyond float range")
