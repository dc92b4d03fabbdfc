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
- whenever it tracks nobody.
"""

from __future__ import annotations

import numpy as np


class TrackingMultiPersonDetector:
    """``detector.detect`` every ``redetect_every``-th image, ``detector.track_people`` between.

    Args:
        detector: a :class:`~scorehmr_ros.core.multiperson.MultiPersonPoseDetector` (or anything with
            ``detect(image) -> list`` and ``track_people(image, people) -> list | None``).
        redetect_every: images per full detection (1: detect every image, no tracking).

    ``last_source`` is ``"detected"`` or ``"tracked"`` after each call. One instance per camera
    stream (the tracks are that camera's); not thread-safe beyond the wrapped detector.
    """

    def __init__(self, detector, redetect_every: int = 5) -> None:
        if int(redetect_every) < 1:
            raise ValueError(f"redetect_every must be >= 1, got {redetect_every}")
        self.detector = detector
        self.redetect_every = int(redetect_every)
        self._people: list = []
        self._since_detection = 0
        self.last_source: str | None = None

    def detect(self, image_rgb: np.ndarray) -> list:
        """The people in ``image_rgb`` (H, W, 3) uint8 RGB, as ``detector.detect`` returns them."""
        if self._people and self._since_detection + 1 < self.redetect_every:
            tracked = self.detector.track_people(image_rgb, self._people)
            if tracked is not None:
                self._people = tracked
                self._since_detection += 1
                self.last_source = "tracked"
                return list(tracked)
        self._people = list(self.detector.detect(image_rgb))
        self._since_detection = 0
        self.last_source = "detected"
        return list(self._people)

    def reset(self) -> None:
        """Forget the tracks: the next image is detected."""
        self._people = []

    def close(self) -> None:
        self.detector.close()

    def __enter__(self) -> TrackingMultiPersonDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
