"""SMPL-format body model loading (through ``smplx.SMPLLayer``) and 6D rotation helpers.

``load_body_model()`` reads, without any licensed asset, the packaged synthetic model
(``scorehmr_ros/data/synthetic_smpl.npz``, see ``sim.synthetic_body``), or a user's
``SMPL_NEUTRAL.pkl`` / ``.npz``. Licensed SMPL pickles hold chumpy arrays and a scipy sparse
``J_regressor``; they are read by a restricted unpickler that only materialises arrays and
refuses every other global (a pickle that calls ``os.system`` raises instead of running).

Landmark vertices (``BodyModel.landmark_vertex_ids``) use the names of ``core.keypoints``:
``nose``, ``left_eye``, ``left_eye_inner``, ``left_eye_outer``, ``left_ear``, ``mouth_left``,
``left_{thumb,index,middle,ring,pinky}_tip``, ``left_big_toe``, ``left_small_toe``, ``left_heel``
and their ``right_`` twins. For the 6890-vertex SMPL topology the smplx ``'smplh'`` vertex ids are
used; eye corners and mouth corners (which smplx does not define) are the template vertices
nearest to points derived from the eyes and the nose (see ``_derive_face_landmarks``).

6D rotation convention: the first two COLUMNS of the rotation matrix, column 0 then column 1:
``[R00, R10, R20, R01, R11, R21]``; Gram-Schmidt back to a rotation with ``roma``.
"""

from __future__ import annotations

import contextlib
import io
import pickle
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import roma
import smplx
import torch

from scorehmr_ros.core.kinematics import TreeKinematics
from scorehmr_ros.core.skeleton import NUM_JOINTS, SMPL_JOINT_NAMES

NUM_BETAS = 10
_PACKAGED = "synthetic_smpl.npz"

# smplx VertexJointSelector keys (in its output order) -> landmark names used by this project.
SMPLX_LANDMARK_KEYS: dict[str, str] = {
    "nose": "nose",
    "reye": "right_eye",
    "leye": "left_eye",
    "rear": "right_ear",
    "lear": "left_ear",
    "LBigToe": "left_big_toe",
    "LSmallToe": "left_small_toe",
    "LHeel": "left_heel",
    "RBigToe": "right_big_toe",
    "RSmallToe": "right_small_toe",
    "RHeel": "right_heel",
    "lthumb": "left_thumb_tip",
    "lindex": "left_index_tip",
    "lmiddle": "left_middle_tip",
    "lring": "left_ring_tip",
    "lpinky": "left_pinky_tip",
    "rthumb": "right_thumb_tip",
    "rindex": "right_index_tip",
    "rmiddle": "right_middle_tip",
    "rring": "right_ring_tip",
    "rpinky": "right_pinky_tip",
}
FACE_EXTRA_LANDMARKS = (
    "left_eye_inner",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye_outer",
    "mouth_left",
    "mouth_right",
)
SMPL_NUM_VERTICES = 6890


# --------------------------------------------------------------------------------------------
# 6D rotations
# --------------------------------------------------------------------------------------------
def pose6d_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """6D rotations to rotation matrices.

    Args:
        x: ``(..., 6)`` per joint, or flattened ``(B, 6*J)`` (e.g. ``(B,144)`` for 24 joints).
           Layout per joint: column 0 then column 1 of the rotation matrix.
    Returns:
        ``(..., 3, 3)``, e.g. ``(B,24,3,3)``.
    """
    if x.shape[-1] != 6:
        if x.shape[-1] % 6:
            raise ValueError(f"last dimension must be a multiple of 6, got {tuple(x.shape)}")
        x = x.reshape(*x.shape[:-1], -1, 6)
    m = x.reshape(*x.shape[:-1], 2, 3).transpose(-1, -2)  # (...,3,2): the two columns
    return roma.special_gramschmidt(m)


def rotmat_to_pose6d(rotmat: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(..., 3, 3)`` to 6D ``(..., 6)`` (first two columns, column-major)."""
    return rotmat[..., :, :2].transpose(-1, -2).reshape(*rotmat.shape[:-2], 6)


# --------------------------------------------------------------------------------------------
# Restricted unpickler for licensed SMPL .pkl files
# --------------------------------------------------------------------------------------------
class _ChumpyStandIn:
    """Captures the pickled state of a chumpy object (``Ch`` keeps its array in ``x``)."""

    def __init__(self, *args, **kwargs):
        self.state = None

    def __setstate__(self, state):
        self.state = state

    def to_array(self) -> np.ndarray:
        st = self.state
        if isinstance(st, dict) and "x" in st:
            return np.asarray(_materialize(st["x"]))
        raise pickle.UnpicklingError(
            "chumpy object without an 'x' array (a derived chumpy expression) is not supported"
        )


class _SparseStandIn:
    """Captures the pickled state of a ``scipy.sparse`` csc/csr/coo matrix."""

    kind = "csc"

    def __init__(self, *args, **kwargs):
        self.state = None

    def __setstate__(self, state):
        self.state = state

    def to_array(self) -> np.ndarray:
        import scipy.sparse as sp

        st = self.state
        shape = tuple(st.get("_shape", st.get("shape")))
        if self.kind == "coo":
            data = (np.asarray(st["data"]), (np.asarray(st["row"]), np.asarray(st["col"])))
            return sp.coo_matrix(data, shape=shape).toarray()
        cls = sp.csc_matrix if self.kind == "csc" else sp.csr_matrix
        mat = cls((np.asarray(st["data"]), np.asarray(st["indices"]), np.asarray(st["indptr"])), shape=shape)
        return mat.toarray()


class _Csc(_SparseStandIn):
    kind = "csc"


class _Csr(_SparseStandIn):
    kind = "csr"


class _Coo(_SparseStandIn):
    kind = "coo"


_STAND_INS = (_ChumpyStandIn, _Csc, _Csr, _Coo)


def _safe_reconstructor(cls, base, state):
    """``copyreg._reconstructor`` limited to the stand-ins and ``object`` as base."""
    if cls not in _STAND_INS or base is not object:
        raise pickle.UnpicklingError(f"refusing to reconstruct {cls!r} from {base!r}")
    return cls.__new__(cls)


def _latin1_encode(obj, encoding="latin1"):
    """``_codecs.encode`` as used by Python 3 protocol-2 pickles for bytes; latin-1 only."""
    if encoding not in ("latin1", "latin-1") or not isinstance(obj, str):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return obj.encode("latin1")


_SAFE_BUILTINS = {"object": object, "set": set, "frozenset": frozenset, "slice": slice, "complex": complex}
_NP_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]
_NP_SCALAR = np.float64(0).__reduce__()[0]


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler for SMPL model files: only numpy arrays, dtypes, scalars, chumpy arrays and
    scipy sparse matrices (as inert stand-ins). Any other global raises ``UnpicklingError``."""

    def find_class(self, module: str, name: str):
        if module in ("copy_reg", "copyreg") and name == "_reconstructor":
            return _safe_reconstructor
        if module == "_codecs" and name == "encode":
            return _latin1_encode
        if module in ("__builtin__", "builtins") and name in _SAFE_BUILTINS:
            return _SAFE_BUILTINS[name]
        if module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            if name == "_reconstruct":
                return _NP_RECONSTRUCT
            if name == "scalar":
                return _NP_SCALAR
        if module == "numpy" and name == "ndarray":
            return np.ndarray
        if module == "numpy" and name == "dtype":
            return np.dtype
        if module == "chumpy" or module.startswith("chumpy."):
            return _ChumpyStandIn
        if module == "scipy.sparse" or module.startswith("scipy.sparse."):
            if name == "csc_matrix":
                return _Csc
            if name == "csr_matrix":
                return _Csr
            if name == "coo_matrix":
                return _Coo
        raise pickle.UnpicklingError(
            f"refusing to load global '{module}.{name}' from a body-model pickle "
            "(only numpy, chumpy arrays and scipy sparse matrices are allowed)"
        )


def _materialize(obj):
    if isinstance(obj, (_ChumpyStandIn, _SparseStandIn)):
        return obj.to_array()
    if isinstance(obj, dict):
        return {k: _materialize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialize(v) for v in obj)
    return obj


def load_smpl_pickle(path: str | Path) -> dict:
    """Read a licensed SMPL ``.pkl`` (Python 2 pickle, chumpy arrays) into plain numpy arrays."""
    with open(path, "rb") as fh:
        data = RestrictedUnpickler(fh, encoding="latin1").load()
    if not isinstance(data, dict):
        raise pickle.UnpicklingError(f"{path}: expected a dict of arrays, got {type(data).__name__}")
    return _materialize(data)


# --------------------------------------------------------------------------------------------
# Body model
# --------------------------------------------------------------------------------------------
@dataclass
class _Struct:
    v_template: np.ndarray
    f: np.ndarray
    weights: np.ndarray
    J_regressor: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    kintree_table: np.ndarray


def packaged_model_path() -> Path:
    """Path of the packaged synthetic model (independent of the working directory)."""
    try:
        p = Path(str(resources.files("scorehmr_ros") / "data" / _PACKAGED))
    except (ModuleNotFoundError, TypeError):
        p = Path(__file__).resolve().parents[1] / "data" / _PACKAGED
    if not p.exists():
        p = Path(__file__).resolve().parents[1] / "data" / _PACKAGED
    return p


def _derive_face_landmarks(v: np.ndarray, ids: dict[str, int]) -> dict[str, int]:
    """Eye/mouth corners as template vertices nearest to points derived from eyes and nose.

    With ``L``/``R`` the eye vertices, ``ipd = |L-R|``: inner corner target ``L + 0.25 (R-L)``,
    outer ``L - 0.25 (R-L)``; mouth centre ``nose - 0.55 ipd * up - 0.2 ipd * forward`` and corners
    ``+-0.4 ipd`` sideways. Assumes a T-pose template with y up and z forward (SMPL's).
    """
    L, R, N = v[ids["left_eye"]], v[ids["right_eye"]], v[ids["nose"]]
    ipd = float(np.linalg.norm(L - R))
    side = (L - R) / ipd
    up, fwd = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])
    mouth = N - 0.55 * ipd * up - 0.2 * ipd * fwd
    targets = {
        "left_eye_inner": L + 0.25 * (R - L),
        "left_eye_outer": L - 0.25 * (R - L),
        "right_eye_inner": R + 0.25 * (L - R),
        "right_eye_outer": R - 0.25 * (L - R),
        "mouth_left": mouth + 0.4 * ipd * side,
        "mouth_right": mouth - 0.4 * ipd * side,
    }
    return {k: int(np.argmin(np.linalg.norm(v - p, axis=1))) for k, p in targets.items()}


def _read_arrays(path: Path) -> dict:
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    if path.suffix == ".pkl":
        return load_smpl_pickle(path)
    raise ValueError(f"unsupported body model file {path} (expected .pkl or .npz)")


class BodyModel(torch.nn.Module):
    """SMPL-format body model (a thin wrapper around ``smplx.SMPLLayer``).

    Attributes:
        faces: ``(F,3)`` int64 numpy triangle indices.
        joint_names: names of every output joint row: the 24 SMPL joints then the landmarks that
            smplx selects (nose, eyes, ears, toes, heels, finger tips), smplx order.
        landmark_vertex_ids: landmark name -> vertex id (smplx-selected ones and the extra face
            corners).
        source_names: ``joint_names`` + landmarks not already among them; the rows of
            ``sources(output)`` and the columns of keypoint gather matrices.
        shape_names: meaning of each beta (generic ``beta_k`` for real SMPL files).
    """

    def __init__(self, data: dict, source: str = "", device="cpu", dtype=torch.float32):
        super().__init__()
        v = np.asarray(data["v_template"], dtype=np.float64)
        nv = len(v)
        landmarks: dict[str, int] = {}
        if "landmark_names" in data and "landmark_vertex_ids" in data:
            landmarks = {
                str(n): int(i)
                for n, i in zip(data["landmark_names"], data["landmark_vertex_ids"], strict=True)
            }
        if nv == SMPL_NUM_VERTICES:
            for key, name in SMPLX_LANDMARK_KEYS.items():
                landmarks.setdefault(name, int(smplx.vertex_ids.vertex_ids["smplh"][key]))
        missing = [n for n in SMPLX_LANDMARK_KEYS.values() if n not in landmarks]
        if missing:
            raise ValueError(f"{source}: {nv}-vertex model without landmark ids for {missing}")
        if any(n not in landmarks for n in FACE_EXTRA_LANDMARKS):
            for k, i in _derive_face_landmarks(v, landmarks).items():
                landmarks.setdefault(k, i)
        self.landmark_vertex_ids: dict[str, int] = landmarks
        vertex_ids = {key: landmarks[name] for key, name in SMPLX_LANDMARK_KEYS.items()}

        jreg = data["J_regressor"]
        if hasattr(jreg, "toarray"):
            jreg = jreg.toarray()
        shapedirs = np.asarray(data["shapedirs"])[:, :, :NUM_BETAS]
        struct = _Struct(
            v_template=v,
            f=np.asarray(data["f"], dtype=np.int64),
            weights=np.asarray(data["weights"]),
            J_regressor=np.asarray(jreg),
            shapedirs=shapedirs,
            posedirs=np.asarray(data["posedirs"]),
            kintree_table=np.asarray(data["kintree_table"]).astype(np.int64),
        )
        with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a 10-betas warning
            self.layer = smplx.SMPLLayer(
                model_path="", data_struct=struct, vertex_ids=vertex_ids, num_betas=NUM_BETAS, dtype=dtype
            )
        self.source = source
        self.faces = struct.f
        self.num_betas = shapedirs.shape[-1]
        names = data.get("shape_names")
        self.shape_names = (
            [str(n) for n in names] if names is not None else [f"beta_{k}" for k in range(self.num_betas)]
        )
        self.joint_names: list[str] = list(SMPL_JOINT_NAMES) + list(SMPLX_LANDMARK_KEYS.values())
        extra = [n for n in landmarks if n not in self.joint_names]
        self.source_names: list[str] = self.joint_names + extra
        self.register_buffer(
            "extra_vertex_ids", torch.tensor([landmarks[n] for n in extra], dtype=torch.long)
        )
        self._gather_cache: dict[str, torch.Tensor] = {}
        # Rest joints as a linear function of betas, for the joints-only forward (skeleton()).
        jreg_t, shapedirs_t = self.layer.J_regressor, self.layer.shapedirs
        self.register_buffer("joint_template", jreg_t @ self.layer.v_template)  # (24, 3)
        self.register_buffer("joint_shapedirs", torch.einsum("jv,vcb->jcb", jreg_t, shapedirs_t))  # (24,3,nb)
        # Vertices behind every landmark source (smplx-selected ones, then the extra ones), and
        # their slices of the blend shapes and skinning weights, for the sparse forward.
        ids = torch.tensor(
            [landmarks[n] for n in self.joint_names[NUM_JOINTS:]] + [landmarks[n] for n in extra],
            dtype=torch.long,
        )
        self.register_buffer("source_vertex_ids", ids)
        num_pose = self.layer.posedirs.shape[0]
        posedirs_v = self.layer.posedirs.reshape(num_pose, -1, 3)[:, ids].reshape(num_pose, -1)
        self.register_buffer("source_posedirs", posedirs_v)  # (207, n*3)
        self.kinematics = TreeKinematics(self.layer.parents.cpu())
        self.to(device)

    @property
    def num_vertices(self) -> int:
        return int(self.layer.v_template.shape[0])

    def forward(
        self,
        global_orient: torch.Tensor,
        body_pose: torch.Tensor,
        betas: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
    ):
        """Posed body.

        Args:
            global_orient: ``(B,3,3)`` or ``(B,1,3,3)`` rotation matrices.
            body_pose: ``(B,23,3,3)`` rotation matrices.
            betas: ``(B,num_betas)``; fewer columns are zero-padded; ``None`` = mean shape.
            transl: ``(B,3)`` or ``None``.
        Returns:
            smplx ``SMPLOutput`` with ``vertices (B,V,3)`` and ``joints (B,45,3)`` (``joint_names``).
        """
        B = body_pose.shape[0]
        dev, dt = self.layer.v_template.device, self.layer.v_template.dtype
        if betas is None:
            betas = torch.zeros(B, self.num_betas, device=dev, dtype=dt)
        elif betas.shape[-1] < self.num_betas:
            betas = torch.nn.functional.pad(betas, (0, self.num_betas - betas.shape[-1]))
        return self.layer(
            global_orient=global_orient.reshape(B, 1, 3, 3),
            body_pose=body_pose.reshape(B, -1, 3, 3),
            betas=betas,
            transl=transl,
        )

    def _full_betas(self, B: int, betas: torch.Tensor | None) -> torch.Tensor:
        """(B, num_betas): zeros for None, fewer coefficients zero-padded."""
        if betas is None:
            return self.joint_template.new_zeros(B, self.num_betas)
        if betas.shape[-1] < self.num_betas:
            return torch.nn.functional.pad(betas, (0, self.num_betas - betas.shape[-1]))
        return betas

    def rest_joints(self, betas: torch.Tensor) -> torch.Tensor:
        """Rest-pose joints J(β) ``(B, 24, 3)`` of betas ``(B, nb)`` (zero-padded to num_betas)."""
        betas = self._full_betas(betas.shape[0], betas)
        return self.joint_template + torch.einsum("jcb,nb->njc", self.joint_shapedirs, betas)

    def skeleton(
        self,
        global_orient: torch.Tensor,
        body_pose: torch.Tensor,
        betas: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The 24 SMPL joints ``(B,24,3)`` without the mesh: rest joints J(β) and forward kinematics.

        Equals ``forward(...).joints[:, :24]`` (SMPL's joints do not depend on the pose blend
        shapes) at a fraction of the cost. Arguments as in :meth:`forward`.
        """
        B = body_pose.shape[0]
        rot = torch.cat([global_orient.reshape(B, 1, 3, 3), body_pose.reshape(B, -1, 3, 3)], dim=1)
        posed, _ = self.kinematics(rot, self.rest_joints(self._full_betas(B, betas)))
        return posed if transl is None else posed + transl.unsqueeze(1)

    def pose_sources(
        self,
        global_orient: torch.Tensor,
        body_pose: torch.Tensor,
        betas: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``sources(forward(...))`` without the full mesh: ``(B, len(source_names), 3)``.

        Shape and pose blend shapes and linear blend skinning are evaluated only on the landmark
        vertices; the 24 joints come from forward kinematics. This is what the guidance loop uses.
        """
        B = body_pose.shape[0]
        betas = self._full_betas(B, betas)
        layer, ids = self.layer, self.source_vertex_ids
        rot = torch.cat([global_orient.reshape(B, 1, 3, 3), body_pose.reshape(B, -1, 3, 3)], dim=1)
        joints, transforms = self.kinematics(rot, self.rest_joints(betas))
        v = layer.v_template[ids] + torch.einsum("vcb,nb->nvc", layer.shapedirs[ids], betas)
        pose_feature = (rot[:, 1:] - torch.eye(3, dtype=rot.dtype, device=rot.device)).reshape(B, -1)
        v = v + (pose_feature @ self.source_posedirs).reshape(B, -1, 3)
        skin = torch.einsum("vj,bjkl->bvkl", layer.lbs_weights[ids], transforms)  # (B, n, 4, 4)
        v = (skin[..., :3, :3] @ v.unsqueeze(-1)).squeeze(-1) + skin[..., :3, 3]
        points = torch.cat([joints, v], dim=1)
        return points if transl is None else points + transl.unsqueeze(1)

    def pose_keypoints(self, global_orient, body_pose, betas=None, transl=None, layout="blazepose33"):
        """Keypoints ``(B,K,3)`` of a layout via :meth:`pose_sources` (no mesh)."""
        from scorehmr_ros.core.keypoints import layout_gather_matrix

        gather = layout_gather_matrix(self, layout)
        return gather @ self.pose_sources(global_orient, body_pose, betas, transl)

    def sources(self, output) -> torch.Tensor:
        """Positions of ``source_names``: ``(B, len(source_names), 3)`` (joints + extra landmarks)."""
        return torch.cat([output.joints, output.vertices[:, self.extra_vertex_ids]], dim=1)

    def keypoints(self, output, layout) -> torch.Tensor:
        """Keypoints ``(B,K,3)`` of a layout (name or ``keypoints.KeypointLayout``)."""
        from scorehmr_ros.core.keypoints import layout_keypoints

        return layout_keypoints(self, output, layout)


def load_body_model(path: str | Path | None = None, device="cpu", dtype=torch.float32) -> BodyModel:
    """Load a SMPL-format body model.

    Args:
        path: ``None`` for the packaged licence-free synthetic model, or a ``.pkl`` (licensed SMPL,
            e.g. ``SMPL_NEUTRAL.pkl``, read with a restricted unpickler) or ``.npz`` file.
    """
    p = packaged_model_path() if path is None else Path(path)
    return BodyModel(_read_arrays(p), source=str(p), device=device, dtype=dtype)
