"""Synthetic SMPL-format body model, its generator and the smplx-based loader."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import roma
import scipy.sparse as sp
import torch
import trimesh

from scorehmr_ros.core.body_model import (
    RestrictedUnpickler,
    load_body_model,
    packaged_model_path,
    pose6d_to_rotmat,
    rotmat_to_pose6d,
)
from scorehmr_ros.core.skeleton import JOINT_INDEX, SMPL_PARENTS
from scorehmr_ros.sim.synthetic_body import SHAPE_NAMES, build_model, save_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model() -> dict[str, np.ndarray]:
    with np.load(packaged_model_path()) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def body():
    return load_body_model()


def _shaped(model, k: int, beta: float = 1.0):
    v = model["v_template"] + beta * model["shapedirs"][:, :, k]
    return v.astype(np.float64), model["J_regressor"].astype(np.float64) @ v


def _part(model, name: str) -> np.ndarray:
    return model["vertex_part"] == list(model["part_names"]).index(name)


# --- synthetic model --------------------------------------------------------------------------
def test_arrays_and_smplx_shapes(model):
    V = len(model["v_template"])
    assert 1000 < V < 6000
    assert model["f"].shape[1] == 3 and model["f"].min() == 0 and model["f"].max() == V - 1
    assert model["weights"].shape == (V, 24)
    assert model["J_regressor"].shape == (24, V)
    assert model["shapedirs"].shape == (V, 3, 10)
    assert model["posedirs"].shape == (V, 3, 207)
    assert np.abs(model["posedirs"]).max() > 1e-3 and np.abs(model["posedirs"]).max() < 0.02
    assert list(model["shape_names"]) == list(SHAPE_NAMES) and len(SHAPE_NAMES) == 10
    kt = model["kintree_table"]
    assert kt.shape == (2, 24) and kt[0, 0] == 4294967295 and list(kt[0, 1:]) == list(SMPL_PARENTS[1:])
    assert packaged_model_path().stat().st_size < 1_500_000


def test_weights_and_regressor(model):
    w, jr = model["weights"], model["J_regressor"]
    assert w.min() >= 0 and np.allclose(w.sum(1), 1.0, atol=1e-5)
    assert jr.min() >= 0 and np.allclose(jr.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(jr @ model["v_template"], model["J"], atol=1e-5)
    # smooth blending: some vertices are shared between parent and child near joints
    knee = JOINT_INDEX["left_knee"]
    assert np.sum((w[:, knee] > 0.2) & (w[:, knee] < 0.8)) > 10


def test_proportions_and_axes(model):
    v, J = model["v_template"], model["J"]
    height = v[:, 1].max() - v[:, 1].min()
    assert 1.6 < height < 1.9
    assert np.linalg.norm(J[JOINT_INDEX["pelvis"]]) < 0.05
    assert J[JOINT_INDEX["left_wrist"], 0] > 0.5  # +x is the subject's left
    assert J[JOINT_INDEX["head"], 1] > J[JOINT_INDEX["neck"], 1] > J[JOINT_INDEX["pelvis"], 1]
    lm = dict(zip(model["landmark_names"], model["landmark_vertex_ids"], strict=True))
    assert v[lm["nose"], 2] > v[:, 2][_part(model, "head")].max() - 0.01  # face looks +z
    assert v[lm["left_big_toe"], 2] > v[lm["left_heel"], 2]
    assert v[lm["left_eye"], 0] > v[lm["left_eye_inner"], 0] > 0 > v[lm["right_eye"], 0]
    assert len(set(lm.values())) == len(lm)


def test_mesh_closed_and_outward(model):
    mesh = trimesh.Trimesh(model["v_template"], model["f"], process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume > 0.03
    edges = np.sort(mesh.edges, axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert np.all(counts == 2)


def test_shape_directions(model):
    v0, J0 = _shaped(model, 0, 0.0)
    names = list(model["shape_names"])

    def k(n):
        return names.index(n)

    def dist(J, a, b):
        return np.linalg.norm(J[JOINT_INDEX[a]] - J[JOINT_INDEX[b]])

    def height(v):
        return v[:, 1].max() - v[:, 1].min()

    def width(v, mask):
        return v[mask, 0].max() - v[mask, 0].min()

    torso = _part(model, "torso")
    waist = torso & (np.abs(v0[:, 1] - 0.12) < 0.03)
    thigh = _part(model, "left_leg") & (np.abs(v0[:, 1] + 0.2) < 0.03)
    head = _part(model, "head")

    v, J = _shaped(model, k("stature"))
    assert height(v) > height(v0) + 0.04
    v, J = _shaped(model, k("girth"))
    assert width(v, waist) > width(v0, waist) * 1.08 and width(v, thigh) > width(v0, thigh) * 1.05
    v, J = _shaped(model, k("shoulder_width"))
    assert dist(J, "left_shoulder", "right_shoulder") > dist(J0, "left_shoulder", "right_shoulder") + 0.04
    v, J = _shaped(model, k("hip_width"))
    assert dist(J, "left_hip", "right_hip") > dist(J0, "left_hip", "right_hip") + 0.02
    v, J = _shaped(model, k("arm_length"))
    assert dist(J, "left_shoulder", "left_wrist") > dist(J0, "left_shoulder", "left_wrist") + 0.03
    v, J = _shaped(model, k("leg_length"))
    assert dist(J, "left_hip", "left_ankle") > dist(J0, "left_hip", "left_ankle") + 0.04
    v, J = _shaped(model, k("torso_length"))
    assert dist(J, "pelvis", "neck") > dist(J0, "pelvis", "neck") + 0.03
    assert abs(dist(J, "left_hip", "left_ankle") - dist(J0, "left_hip", "left_ankle")) < 1e-5
    v, J = _shaped(model, k("head_size"))
    assert height(v[head]) > height(v0[head]) * 1.06
    v, J = _shaped(model, k("limb_thickness"))
    assert width(v, thigh) > width(v0, thigh) * 1.08
    np.testing.assert_allclose(v[torso], v0[torso], atol=1e-6)
    v, J = _shaped(model, k("belly"))
    assert v[waist, 2].max() > v0[waist, 2].max() + 0.02
    assert abs(v[waist, 2].min() - v0[waist, 2].min()) < 1e-3  # the back does not move


def test_regenerates_identically(model, tmp_path):
    out = tmp_path / "m.npz"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_synthetic_body_model.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    assert out.read_bytes() == packaged_model_path().read_bytes()


# --- loader ---------------------------------------------------------------------------------
def test_packaged_model_batch(body):
    g = torch.Generator().manual_seed(0)
    R = roma.random_rotmat((3, 24), generator=g)
    out = body(R[:, 0], R[:, 1:], torch.randn(3, 10, generator=g), torch.randn(3, 3, generator=g))
    assert out.vertices.shape == (3, body.num_vertices, 3)
    assert out.joints.shape == (3, len(body.joint_names), 3) and len(body.joint_names) == 45
    assert torch.isfinite(out.vertices).all() and torch.isfinite(out.joints).all()
    assert body.faces.shape[1] == 3
    # the smplx-selected landmark joints are the landmark vertices
    i = body.joint_names.index("left_index_tip")
    torch.testing.assert_close(out.joints[:, i], out.vertices[:, body.landmark_vertex_ids["left_index_tip"]])


def test_zero_pose_joints(body, model):
    eye = torch.eye(3).expand(2, 24, 3, 3)
    out = body(eye[:, 0], eye[:, 1:], torch.zeros(2, 10))
    expected = torch.from_numpy(model["J_regressor"] @ model["v_template"])
    torch.testing.assert_close(out.joints[:, :24], expected.expand(2, -1, -1), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.vertices[0], torch.from_numpy(model["v_template"]), atol=1e-6, rtol=0)


def test_pose_correctives_act(body):
    rv = torch.zeros(1, 24, 3)
    rv[0, JOINT_INDEX["left_knee"], 0] = 1.5
    R = roma.rotvec_to_rotmat(rv)
    out = body(R[:, 0], R[:, 1:])
    body.layer.posedirs.zero_()  # local copy only for this comparison
    try:
        out_nc = body(R[:, 0], R[:, 1:])
    finally:
        body.layer.posedirs.copy_(load_body_model().layer.posedirs)
    d = (out.vertices - out_nc.vertices).norm(dim=-1)
    assert 0.003 < d.max() < 0.03


def test_6d_roundtrip():
    g = torch.Generator().manual_seed(1)
    R = roma.random_rotmat((4, 24), generator=g)
    x = rotmat_to_pose6d(R)
    assert x.shape == (4, 24, 6)
    torch.testing.assert_close(x[..., :3], R[..., :, 0])  # column 0 first
    torch.testing.assert_close(pose6d_to_rotmat(x), R, atol=1e-5, rtol=0)
    torch.testing.assert_close(pose6d_to_rotmat(x.reshape(4, 144)), R, atol=1e-5, rtol=0)
    y = pose6d_to_rotmat(torch.randn(5, 24, 6, generator=g))
    torch.testing.assert_close(y @ y.transpose(-1, -2), torch.eye(3).expand(5, 24, 3, 3), atol=1e-5, rtol=0)


class _FakeCh:
    """Pickles like chumpy's Ch (module ``chumpy.ch``, state dict with the array in ``x``)."""

    def __init__(self, x):
        self.x = x

    def __getstate__(self):
        return {"x": self.x, "_dirty_vars": set()}


@pytest.fixture
def fake_chumpy(monkeypatch):
    mod_ch = types.ModuleType("chumpy.ch")
    mod = types.ModuleType("chumpy")
    _FakeCh.__module__ = "chumpy.ch"
    _FakeCh.__qualname__ = _FakeCh.__name__ = "Ch"
    mod_ch.Ch = _FakeCh
    mod.ch = mod_ch
    monkeypatch.setitem(sys.modules, "chumpy", mod)
    monkeypatch.setitem(sys.modules, "chumpy.ch", mod_ch)
    return _FakeCh


def test_real_format_pickle_loads(model, fake_chumpy, tmp_path):
    Ch = fake_chumpy
    data = {
        "v_template": Ch(model["v_template"].astype(np.float64)),
        "f": model["f"].astype(np.uint32),
        "weights": Ch(model["weights"].astype(np.float64)),
        "J_regressor": sp.csc_matrix(model["J_regressor"].astype(np.float64)),
        "shapedirs": Ch(model["shapedirs"].astype(np.float64)),
        "posedirs": model["posedirs"].astype(np.float64),
        "kintree_table": model["kintree_table"].astype(np.uint32),
        "landmark_names": model["landmark_names"],
        "landmark_vertex_ids": model["landmark_vertex_ids"],
        "bs_style": "lbs",
        "J": Ch(model["J"].astype(np.float64)),
    }
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    with open(path, "wb") as fh:
        pickle.dump(data, fh, protocol=2)
    assert b"chumpy.ch" in path.read_bytes() and b"csc_matrix" in path.read_bytes()
    bm = load_body_model(path)
    eye = torch.eye(3).expand(1, 24, 3, 3)
    out = bm(eye[:, 0], eye[:, 1:])
    torch.testing.assert_close(out.joints[0, :24], torch.from_numpy(model["J"]), atol=1e-5, rtol=0)


class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


@pytest.mark.parametrize("kind", ["system", "eval"])
def test_malicious_pickle_refused(tmp_path, kind):
    marker = tmp_path / "pwned"
    if kind == "system":
        payload = _Evil(os.system, f"touch {marker}")
    else:
        payload = _Evil(eval, f"open({str(marker)!r}, 'w').close()")
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as fh:
        pickle.dump({"v_template": payload}, fh, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_body_model(path)
    with open(path, "rb") as fh, pytest.raises(pickle.UnpicklingError):
        RestrictedUnpickler(fh).load()
    assert not marker.exists()


def test_npz_loads(model, tmp_path):
    path = tmp_path / "copy.npz"
    np.savez(path, **model)
    bm = load_body_model(str(path))
    assert bm.num_vertices == len(model["v_template"])
    assert bm.shape_names == list(SHAPE_NAMES)
    assert set(bm.landmark_vertex_ids) >= {"mouth_left", "left_eye_outer", "right_heel"}


def test_save_model_is_deterministic(tmp_path):
    arrays = {"a": np.arange(5.0), "b": np.array(["x", "yy"])}
    save_model(arrays, tmp_path / "1.npz")
    save_model(arrays, tmp_path / "2.npz")
    assert (tmp_path / "1.npz").read_bytes() == (tmp_path / "2.npz").read_bytes()
    with np.load(tmp_path / "1.npz") as z:
        np.testing.assert_array_equal(z["a"], arrays["a"])


def test_build_model_matches_file(model):
    fresh = build_model()
    assert set(fresh) == set(model)
    for key, arr in fresh.items():
        np.testing.assert_array_equal(arr, model[key])


def test_joints_only_forwards_match_the_full_smplx_forward():
    """skeleton() and pose_keypoints() (no mesh) equal the full smplx forward within 1e-5 m."""
    import roma

    from scorehmr_ros.core.keypoints import LAYOUTS

    model = load_body_model()
    g = torch.Generator().manual_seed(3)
    B = 8
    rot = roma.rotvec_to_rotmat(0.6 * torch.randn(B * 24, 3, generator=g)).reshape(B, 24, 3, 3)
    betas = torch.randn(B, 10, generator=g)
    transl = torch.randn(B, 3, generator=g)
    with torch.no_grad():
        full = model(rot[:, 0], rot[:, 1:], betas, transl)
        assert (model.skeleton(rot[:, 0], rot[:, 1:], betas, transl) - full.joints[:, :24]).abs().max() < 1e-5
        for layout in LAYOUTS:
            fast = model.pose_keypoints(rot[:, 0], rot[:, 1:], betas, transl, layout)
            assert (fast - model.keypoints(full, layout)).abs().max() < 1e-5, layout


def test_tree_kinematics_matches_smplx_batch_rigid_transform():
    """Depth-batched forward kinematics == smplx.lbs.batch_rigid_transform: values and gradients."""
    import roma
    import smplx

    from scorehmr_ros.core.kinematics import TreeKinematics

    parents = torch.tensor(SMPL_PARENTS)
    fk = TreeKinematics(parents)
    assert len(fk.levels) == 9  # SMPL: pelvis ... hands, depth 8
    g = torch.Generator().manual_seed(5)
    B = 6
    rotvec = (0.7 * torch.randn(B, 24, 3, generator=g, dtype=torch.float64)).requires_grad_(True)
    rest = (0.3 * torch.randn(B, 24, 3, generator=g, dtype=torch.float64)).requires_grad_(True)
    rot = roma.rotvec_to_rotmat(rotvec)
    ref_joints, ref_tf = smplx.lbs.batch_rigid_transform(rot, rest, parents, dtype=torch.float64)
    joints, tf = fk(rot, rest)
    assert (joints - ref_joints).abs().max() < 1e-10
    assert (tf - ref_tf).abs().max() < 1e-10
    w = torch.randn(B, 24, 4, 4, generator=g, dtype=torch.float64)
    ref_grad = torch.autograd.grad(
        (ref_tf * w).sum() + ref_joints.square().sum(), [rotvec, rest], retain_graph=True
    )
    grad = torch.autograd.grad((tf * w).sum() + joints.square().sum(), [rotvec, rest])
    for a, b in zip(grad, ref_grad, strict=True):
        assert (a - b).abs().max() < 1e-9


def test_tree_kinematics_rejects_children_before_parents():
    from scorehmr_ros.core.kinematics import TreeKinematics

    with pytest.raises(ValueError, match="parent"):
        TreeKinematics([-1, 2, 0])
