"""Drawing (numpy + OpenCV, no ROS, no training data): mesh rendering, keypoint and body overlays.

Used by the node's overlays, the ``scorehmr-estimate`` command, the benchmark plots and the
synthetic renderer in ``scorehmr_ros.sim``.
"""
