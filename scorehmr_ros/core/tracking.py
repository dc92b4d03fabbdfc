"""Multi-person tracking over time with stable string ids (pure numpy/scipy, no ROS).

:class:`PersonTracker` follows people by one 3D point each (e.g. the torso centre from
:func:`torso_centre`), frame by frame:

Prediction
    Constant velocity: ``p(t) = p_last + v * (t - t_last)``. After a match the state is
    updated with an alpha-beta filter (``alpha`` on position, ``beta`` on velocity).
Assignment
    ``scipy.optimize.linear_sum_assignment`` on the Euclidean distance between predictions and
    observations, confirmed tracks first, then tentative ones on the observations left. A pair
    farther apart than the gate ``gate_m + gate_growth_mps * (t - t_last)`` never matches (the
    gate widens while a track is unobserved).
Birth
    An unmatched observation starts a *tentative* track. It is confirmed, and only then gets an
    id, after ``min_hits`` consecutive matched frames (``min_hits=1``: immediately). A tentative
    track that misses one frame is dropped, so noise rarely consumes ids.
Removal
    A confirmed track not matched for more than ``timeout_s`` seconds, and in at least
    ``min_misses`` consecutive frames, is removed (so at a frame rate below 1 / ``timeout_s`` one
    frame without the person, e.g. no confident torso, does not end the id).
Ids
    ``f"{id_prefix}{n}"`` (``b0``, ``b1``, ...), valid REP-155 / tf frame name suffixes,
    allocated in confirmation order and never reused within one tracker.
Leaving and returning
    A person who disappears keeps their track (coasting on the motion model, with a widening
    gate) for ``timeout_s``. If they reappear within the timeout and within the gate, they get
    their old id back; after the timeout the track is gone and they are a new person with a
    new id (after ``min_hits`` frames).

Times are in seconds and must not decrease between calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from scorehmr_ros.core.keypoints import get_layout

TORSO_KEYPOINTS = ("left_hip", "right_hip", "left_shoulder", "right_shoulder")


def torso_centre(
    points: np.ndarray,
    confidence: np.ndarray | None = None,
    layout: str = "blazepose33",
    min_confidence: float = 0.3,
) -> np.ndarray | None:
    """Confidence-weighted mean of the hips and shoulders: points (K, 3) -> (3,); None if none is
    confident (or finite)."""
    index = {n: i for i, n in enumerate(get_layout(layout).keypoint_names)}
    idx = np.array([index[n] for n in TORSO_KEYPOINTS])
    p = np.asarray(points, np.float64)[idx]
    w = np.ones(len(idx)) if confidence is None else np.asarray(confidence, np.float64)[idx]
    w = np.where((w >= min_confidence) & np.all(np.isfinite(p), axis=1), w, 0.0)
    if w.sum() <= 0:
        return None
    return (w[:, None] * np.nan_to_num(p)).sum(0) / w.sum()


@dataclass
class Track:
    """State of one track. position, velocity: (3,) metres, m/s. id: None while tentative."""

    position: np.ndarray
    velocity: np.ndarray
    last_seen: float
    first_seen: float
    hits: int = 1
    misses: int = 0  # consecutive frames without a match
    id: str | None = None

    @property
    def confirmed(self) -> bool:
        return self.id is not None

    def predict(self, t: float) -> np.ndarray:
        """(3,) predicted position at time ``t`` (constant velocity)."""
        return self.position + self.velocity * (t - self.last_seen)


@dataclass(frozen=True)
class TrackedPerson:
    """One confirmed person observed in the current frame: ``observation`` indexes the input."""

    id: str
    observation: int
    position: np.ndarray
    velocity: np.ndarray


class PersonTracker:
    """Tracks people by 3D position with stable ids; see the module docstring for the rules.

    Args:
        gate_m: largest distance (m) between a prediction and an observation that can match.
        gate_growth_mps: gate widening per second since the track was last seen.
        min_hits: consecutive matched frames before a track is confirmed and gets an id.
        timeout_s: a confirmed track unseen for longer than this is removed (see ``min_misses``).
        min_misses: ...and only once it missed at least this many consecutive frames.
        alpha, beta: alpha-beta filter gains on position and velocity.
        max_speed_mps: velocity estimates are clipped to this speed.
        id_prefix: id prefix (``b`` -> ``b0``, ``b1``, ...).
    """

    def __init__(
        self,
        gate_m: float = 0.5,
        gate_growth_mps: float = 1.0,
        min_hits: int = 3,
        timeout_s: float = 1.0,
        min_misses: int = 2,
        alpha: float = 0.8,
        beta: float = 0.4,
        max_speed_mps: float = 4.0,
        id_prefix: str = "b",
    ) -> None:
        if gate_m <= 0 or gate_growth_mps < 0 or timeout_s < 0:
            raise ValueError("gate_m must be > 0, gate_growth_mps and timeout_s >= 0")
        if min_hits < 1 or min_misses < 1:
            raise ValueError(f"min_hits and min_misses must be >= 1, got {min_hits}, {min_misses}")
        if not (0 < alpha <= 1 and 0 <= beta <= 1):
            raise ValueError("alpha must be in (0, 1], beta in [0, 1]")
        if not id_prefix or not (id_prefix[0].isalpha() and id_prefix.replace("_", "").isalnum()):
            raise ValueError(
                f"id_prefix must start with a letter and be alphanumeric/underscore: {id_prefix!r}"
            )
        self.gate_m = float(gate_m)
        self.gate_growth_mps = float(gate_growth_mps)
        self.min_hits = int(min_hits)
        self.timeout_s = float(timeout_s)
        self.min_misses = int(min_misses)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.max_speed_mps = float(max_speed_mps)
        self.id_prefix = id_prefix
        self.tracks: list[Track] = []
        self._next_id = 0
        self._time: float | None = None

    def _match(self, tracks: list[Track], obs: np.ndarray, free: list[int], t: float) -> dict[int, int]:
        """{track index in ``tracks``: observation index} for gated optimal matches among ``free``."""
        if not tracks or not free:
            return {}
        pred = np.stack([tr.predict(t) for tr in tracks])
        dist = np.linalg.norm(pred[:, None, :] - obs[free][None], axis=-1)
        gate = np.array([self.gate_m + self.gate_growth_mps * (t - tr.last_seen) for tr in tracks])
        ok = dist <= gate[:, None]
        if not ok.any():
            return {}
        rows, cols = linear_sum_assignment(np.where(ok, dist, 1e9))
        return {int(r): free[int(c)] for r, c in zip(rows, cols, strict=True) if ok[r, c]}

    def _update_track(self, tr: Track, z: np.ndarray, t: float) -> None:
        dt = t - tr.last_seen
        residual = z - tr.predict(t)
        tr.position = tr.predict(t) + self.alpha * residual
        if dt > 0:
            tr.velocity = tr.velocity + self.beta * residual / dt
            speed = float(np.linalg.norm(tr.velocity))
            if speed > self.max_speed_mps:
                tr.velocity *= self.max_speed_mps / speed
        tr.last_seen = t
        tr.misses = 0
        tr.hits += 1
        if tr.id is None and tr.hits >= self.min_hits:
            tr.id = f"{self.id_prefix}{self._next_id}"
            self._next_id += 1

    def update(self, t: float, positions: np.ndarray | Sequence) -> list[TrackedPerson]:
        """Advance to time ``t`` (s) with this frame's observations ``positions`` (N, 3).

        Returns the confirmed people observed in this frame (tentative ones are not reported),
        in observation order.
        """
        t = float(t)
        if self._time is not None and t < self._time:
            raise ValueError(f"time went backwards: {t} < {self._time}")
        self._time = t
        obs = np.asarray(positions, np.float64).reshape(-1, 3)
        if not np.all(np.isfinite(obs)):
            raise ValueError("positions must be finite")
        free = list(range(len(obs)))
        confirmed = [tr for tr in self.tracks if tr.confirmed]
        tentative = [tr for tr in self.tracks if not tr.confirmed]
        matched: dict[int, Track] = {}
        for group in (confirmed, tentative):
            for i, j in self._match(group, obs, free, t).items():
                matched[j] = group[i]
            free = [j for j in free if j not in matched]
        for j, tr in matched.items():
            self._update_track(tr, obs[j], t)
        matched_tracks = {id(tr) for tr in matched.values()}
        for tr in self.tracks:
            if id(tr) not in matched_tracks:
                tr.misses += 1
        # Removal: tentative tracks that missed this frame; confirmed ones past the timeout that
        # also missed min_misses frames in a row.
        self.tracks = [
            tr
            for tr in self.tracks
            if id(tr) in matched_tracks
            or (tr.confirmed and (t - tr.last_seen <= self.timeout_s or tr.misses < self.min_misses))
        ]
        for j in free:  # births
            tr = Track(position=obs[j].copy(), velocity=np.zeros(3), last_seen=t, first_seen=t)
            if self.min_hits <= 1:
                tr.id = f"{self.id_prefix}{self._next_id}"
                self._next_id += 1
            self.tracks.append(tr)
            matched[j] = tr
        return [
            TrackedPerson(tr.id, j, tr.position.copy(), tr.velocity.copy())
            for j, tr in sorted(matched.items())
            if tr.confirmed
        ]

    def confirmed_tracks(self) -> list[Track]:
        """Confirmed tracks still alive (observed or coasting)."""
        return [tr for tr in self.tracks if tr.confirmed]
