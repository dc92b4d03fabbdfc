"""One person per image: MediaPipe's pose solution, and tiles where it finds nobody.

The legacy solution (:class:`~scorehmr_ros.core.detector.BlazePoseDetector`) runs BlazePose's
person detector on the whole image at 224x224 and misses people who fill little of it: someone a
few metres from a 640x480 camera, or lying on the floor (on a rendered held-out scene it found
the person lying at the end of a row in none of the frames of two of three cameras;
``scripts/eval_single_person_fallback.py``). :class:`FallbackPoseDetector` keeps the legacy
solution (its tracking and landmark smoothing) for every frame it finds someone in, and asks the
multi-person detector, which also looks at tiles (:class:`~scorehmr_ros.core.multiperson.
MultiPersonPoseDetector`, ``tile_fraction``), only when it finds nobody; the best-scored person
found there is returned.

A person found there is then tracked as BlazePose tracks: on the next frame the solution still
misses, one landmark-model call on the crop the last landmarks predict
(:meth:`~scorehmr_ros.core.multiperson.MultiPersonPoseDetector.track_people`) instead of the whole tile
pass; the tiles run again only when the tracked pose is lost. Where images are too far apart to track
(``max_track_gap_s``; a node that refines two sets a second) but at most ``max_search_gap_s``, the
person is looked for near where it was instead (the person detector on the whole image and one
window around its last box, ``MultiPersonPoseDetector.search``; the person whose landmark box
overlaps its last one), and the tiles run only when that does not find it. An empty scene
would run the tiles on every frame (about 15 extra detector calls per 640x480 image), so after a
fallback that found nobody the next ``retry_every - 1`` empty frames skip it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scorehmr_ros.core.detector import Detection
from scorehmr_ros.core.multiperson import match_boxes
from scorehmr_ros.core.tracked_detector import MAX_SEARCH_GAP_S, MAX_TRACK_GAP_S, TrackClock


class FallbackPoseDetector:
    """``primary.detect`` first; where it returns None, the best person of ``make_fallback()``.

    Args:
        primary: a single-person detector (``detect(image) -> Detection | None``), e.g. a
            :class:`~scorehmr_ros.core.detector.BlazePoseDetector` in video mode.
        make_fallback: creates the fallback on first need (``detect(image) -> list`` of people with
            ``score`` and ``as_detection()``, e.g. a ``MultiPersonPoseDetector`` with tiles).
        retry_every: after a fallback that found nobody, it runs again only on the
            ``retry_every``-th empty frame (1: on every empty frame).
        track: follow the fallback's person with ``fallback.track_people(image, [person])`` (one
            landmark call on the crop its last landmarks predict) until the pose is lost, over images
            at most ``max_track_gap_s`` apart, and over longer gaps up to ``max_search_gap_s``
            search near it (``fallback.search(image, [person])``); False: the whole fallback on
            every frame the primary misses.

    ``last_source`` says where the last result came from: ``"primary"``, ``"fallback"``,
    ``"tracked"`` (the fallback's person, followed), ``"searched"`` (found again near it) or None.
    Not thread-safe beyond what the wrapped detectors are: one instance per camera stream.
    """

    def __init__(
        self,
        primary,
        make_fallback: Callable[[], object],
        retry_every: int = 5,
        track: bool = True,
        max_track_gap_s: float = MAX_TRACK_GAP_S,
        max_search_gap_s: float = MAX_SEARCH_GAP_S,
    ) -> None:
        if retry_every < 1:
            raise ValueError(f"retry_every must be >= 1, got {retry_every}")
        if not float(max_search_gap_s) >= 0.0:
            raise ValueError(f"max_search_gap_s must be >= 0, got {max_search_gap_s}")
        self.max_search_gap_s = float(max_search_gap_s)
        self.primary = primary
        self._make_fallback = make_fallback
        self._fallback = None
        self.retry_every = int(retry_every)
        self._skip = 0
        self.track = bool(track)
        self._tracked = None  # the last person the fallback found or tracked (its next_roi, score)
        self._clock = TrackClock(max_track_gap_s)
        self.last_source: str | None = None

    def detect(self, image_rgb: np.ndarray, stamp_s: float | None = None) -> Detection | None:
        """The person in ``image_rgb`` (H, W, 3) uint8 RGB, or None; see the class docstring.
        ``stamp_s``: the image's time (s); a track carries over only to an image at most
        ``max_track_gap_s`` later (None: time unknown, it carries over)."""
        recent = self._clock.tick(stamp_s)
        found = self.primary.detect(image_rgb, stamp_s)
        if found is not None:
            self._skip = 0
            self._tracked = None
            self.last_source = "primary"
            return found
        self.last_source = None
        last, self._tracked = self._tracked, None
        if last is not None and recent:
            followed = self._fallback.track_people(image_rgb, [last])
            if followed:
                return self._keep(followed[0], "tracked")
        gap = self._clock.gap_s
        if last is not None and gap is not None and 0.0 <= gap <= self.max_search_gap_s:
            people, complete = self._fallback.search(image_rgb, [last])
            (same,) = match_boxes([last.box], [p.box for p in people])
            if complete and same is not None:
                return self._keep(people[same], "searched")
            return self._found(people)  # a full detection's result (or the whole image's, complete)
        if self._skip > 0:
            self._skip -= 1
            return None
        if self._fallback is None:
            self._fallback = self._make_fallback()
        return self._found(self._fallback.detect(image_rgb))

    def _found(self, people: list) -> Detection | None:
        """The best of ``people`` (the fallback's full detection), or None (and wait)."""
        if not people:
            self._skip = self.retry_every - 1
            return None
        return self._keep(max(people, key=lambda p: p.score), "fallback")

    def _keep(self, person, source: str) -> Detection:
        """``person`` (the fallback's) as this image's result, followed next time if ``track``."""
        self.last_source = source
        self._tracked = person if self.track and getattr(person, "next_roi", None) is not None else None
        return person.as_detection()

    def close(self) -> None:
        """Close both detectors (idempotent)."""
        self.primary.close()
        if self._fallback is not None:
            self._fallback.close()

    def __enter__(self) -> FallbackPoseDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def single_person_detector(
    *,
    static_image_mode: bool = False,
    min_detection_confidence: float = 0.5,
    min_tracking_confidence: float = 0.5,
    model_complexity: int = 1,
    tile_fraction: float | None = 0.5,
    mask_others: bool = True,
    tile_fallback: bool = True,
    limb_model: str = "none",
    limb_model_path: str | None = None,
    max_track_gap_s: float = MAX_TRACK_GAP_S,
):
    """The single-person detector of a camera stream: MediaPipe's pose solution, wrapped in a
    :class:`FallbackPoseDetector` on tiles of ``tile_fraction`` unless ``tile_fallback`` is off or
    there are no tiles (``tile_fraction`` None / 0). The fallback's person is tracked from frame to
    frame in video mode only (``static_image_mode`` False), as the solution tracks its own.
    ``limb_model`` (:mod:`scorehmr_ros.core.limb_model`): the person's limb keypoints from
    MoveNet (``"movenet_thunder"``) or BlazePose's alone (``"none"``). ``max_track_gap_s``: images
    further apart (by the stamps given to ``detect``) are not tracked, by the solution nor by the
    fallback."""
    from scorehmr_ros.core.detector import BlazePoseDetector
    from scorehmr_ros.core.limb_model import WithLimbModel, make_limb_model

    limbs = make_limb_model(limb_model, limb_model_path)  # first: a missing model fails early

    legacy = BlazePoseDetector(
        static_image_mode=static_image_mode,
        min_detection_confidence=min_detection_confidence,
        min_tracking_confidence=min_tracking_confidence,
        model_complexity=model_complexity,
        max_track_gap_s=max_track_gap_s,
    )
    if not (tile_fallback and tile_fraction):
        return legacy if limbs is None else WithLimbModel(legacy, limbs)

    def tiles():
        from scorehmr_ros.core.multiperson import MultiPersonPoseDetector

        return MultiPersonPoseDetector(
            min_detection_score=min_detection_confidence,
            max_people=3,
            tile_fraction=tile_fraction,
            mask_others=mask_others,
            num_threads=1,
            enough_people=1,
            enough_score=min_detection_confidence,
            model_complexity=model_complexity,
        )

    detector = FallbackPoseDetector(
        legacy, tiles, track=not static_image_mode, max_track_gap_s=max_track_gap_s
    )
    return detector if limbs is None else WithLimbModel(detector, limbs)
