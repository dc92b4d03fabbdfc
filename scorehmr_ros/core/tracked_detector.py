"""Several people per image, detected now and then and tracked in between, as BlazePose tracks one.

:class:`~scorehmr_ros.core.multiperson.MultiPersonPoseDetector` runs BlazePose's person detector on
the whole image and on tiles (about 15 detector calls per 640x480 image), then the landmark model
once per person. MediaPipe's pose solution detects only when it has nobody to track: each frame's
landmarks predict the next frame's crop. :class:`TrackingMultiPersonDetector` does the same for
every person: between full detections it runs only the landmark model, on each person's
``next_roi`` (:meth:`~scorehmr_ros.core.multiperson.MultiPersonPoseDetector.track_people`, with the
same de-duplication and masking of neighbours as a detection). It detects again

- every ``redetect_every``-th image, so that people who enter are found within that many images;
- at once when a tracked person is lost (the landmark model's pose flag drops, or two tracks run
  onto one person);
- whenever it tracks nobody;
- when the image is more than ``max_track_gap_s`` after the previous one (given stamps): the
  landmarks predict the next crop only over a camera frame or two. A node that refines a set every
  0.5 s (and drops the rest) would otherwise crop where a moving person was half a second ago
  (docs/DEVELOPMENT.md, "People are tracked in 2D between detections").

A detection between the every-``redetect_every``-th ones is a *local search* when the previous
image is at most ``max_search_gap_s`` old and held as many people as the caller keeps (the
detector's ``has_enough``: ``enough_people``, the stream's ``max_people``):
:meth:`~scorehmr_ros.core.multiperson.MultiPersonPoseDetector.search` runs the person detector on
the whole image as usual, but instead of the ~15 tiles on one window around each previous person
the whole image did not find again. The person detector finds a person anywhere in the window, so
this carries over gaps that the landmark crop cannot. When the search does not find every previous
person again, or not enough people, the detector runs the tiles after all (a full detection). With
fewer people than the caller keeps no search is tried, since the tiles might find someone more:
without that rule, on held-out two-person renders at 5 fps, a camera where the two people overlap
and the last detection had merged them into one kept that one box through the searches while the
full detection separated them (the limbs' keypoints several times as far off over the searched
images; a probe, not kept).
"""

from __future__ import annotations

import numpy as np

# Longest interval between two images over which a track carries over (s): about three frames at
# 30 fps; the held-out scenes at 15 fps (67 ms) track well, a node refining 2 sets per second not.
MAX_TRACK_GAP_S = 0.1
# Longest interval over which the previous image's people are looked for near where they were (s):
# a walking person moves about a metre, within the 2x-box window at a few metres' distance.
MAX_SEARCH_GAP_S = 1.0


class TrackClock:
    """Whether an image is recent enough after the previous one for a track to carry over."""

    def __init__(self, max_gap_s: float = MAX_TRACK_GAP_S) -> None:
        if not max_gap_s > 0:
            raise ValueError(f"max_gap_s must be > 0, got {max_gap_s}")
        self.max_gap_s = float(max_gap_s)
        self._last: float | None = None
        self.gap_s: float | None = None  # the last tick's interval to the one before (s), if known

    def tick(self, stamp_s: float | None) -> bool:
        """Record an image at ``stamp_s`` (s); True when it is at most ``max_gap_s`` after the
        previous one (never for a stamp that goes back). No stamp (None): True, time unknown."""
        previous, self._last = self._last, stamp_s
        self.gap_s = None if stamp_s is None or previous is None else stamp_s - previous
        if stamp_s is None or previous is None:
            return stamp_s is None
        return 0.0 <= stamp_s - previous <= self.max_gap_s


class TrackingMultiPersonDetector:
    """``detector.detect`` every ``redetect_every``-th image, ``detector.track_people`` between.

    Args:
        detector: a :class:`~scorehmr_ros.core.multiperson.MultiPersonPoseDetector` (or anything with
            its ``detect``, ``search``, ``track_people`` and ``has_enough``).
        redetect_every: images per full detection (1: detect every image, no tracking).
        max_track_gap_s: images further apart than this (by the stamps given to :meth:`detect`)
            are detected, not tracked.
        max_search_gap_s: a detection between the every-``redetect_every``-th ones searches locally
            (module docstring) when the image is at most this long after the previous one (by the
            stamps; never without them); 0: always the full detection.

    ``last_source`` is ``"detected"``, ``"searched"`` (a complete local search) or ``"tracked"``
    after each call. One instance per camera stream (the tracks are that camera's); not
    thread-safe beyond the wrapped detector.
    """

    def __init__(
        self,
        detector,
        redetect_every: int = 5,
        max_track_gap_s: float = MAX_TRACK_GAP_S,
        max_search_gap_s: float = MAX_SEARCH_GAP_S,
    ) -> None:
        if int(redetect_every) < 1:
            raise ValueError(f"redetect_every must be >= 1, got {redetect_every}")
        if not float(max_search_gap_s) >= 0.0:
            raise ValueError(f"max_search_gap_s must be >= 0, got {max_search_gap_s}")
        self.detector = detector
        self.redetect_every = int(redetect_every)
        self.max_search_gap_s = float(max_search_gap_s)
        self._people: list = []
        self._since_detection = 0
        self._clock = TrackClock(max_track_gap_s)
        self.last_source: str | None = None

    def detect(self, image_rgb: np.ndarray, stamp_s: float | None = None) -> list:
        """The people in ``image_rgb`` (H, W, 3) uint8 RGB, as ``detector.detect`` returns them;
        ``stamp_s``: the image's time (s), None if unknown (then tracks always carry over)."""
        recent = self._clock.tick(stamp_s)
        if self._since_detection + 1 < self.redetect_every:
            if recent and self._people:
                tracked = self.detector.track_people(image_rgb, self._people)
                if tracked is not None:
                    return self._keep(tracked, "tracked")
            gap = self._clock.gap_s
            searchable = gap is not None and 0.0 <= gap <= self.max_search_gap_s
            if searchable and self.detector.has_enough(self._people):
                found, complete = self.detector.search(image_rgb, self._people)
                if complete:
                    return self._keep(found, "searched")
                return self._detected(found)
        return self._detected(self.detector.detect(image_rgb))

    def _detected(self, people: list) -> list:
        """``people`` of a full detection as this image's result."""
        self._people = list(people)
        self._since_detection = 0
        self.last_source = "detected"
        return list(self._people)

    def _keep(self, people: list, source: str) -> list:
        """``people`` as this image's result, between two full detections."""
        self._people = list(people)
        self._since_detection += 1
        self.last_source = source
        return list(people)

    def reset(self) -> None:
        """Forget the tracks: the next image is detected."""
        self._people = []

    def close(self) -> None:
        self.detector.close()

    def __enter__(self) -> TrackingMultiPersonDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
