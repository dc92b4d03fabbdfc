"""Data generation for training, tests and the demo (ROS-free; ``scorehmr_ros.core`` never imports it).

- ``synthetic_body``: the licence-free body model in SMPL format;
- ``mocap``: retargeted motion clips, the fixed train/held-out split, pose augmentation;
- ``scene``: seeded multi-camera rigs and detector-like keypoint corruption;
- ``view_sampling``: random views of random poses for training the per-view regressor;
- ``sequence``: rendered multi-camera image sequences with ground truth (cached).
"""
