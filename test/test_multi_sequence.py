"""sim.multi_sequence: several people rendered together and alone by one calibrated rig."""

import numpy as np


def test_two_people_rendered_together_and_alone():
    from scorehmr_ros.sim.multi_sequence import build_multi_sequence

    seq = build_multi_sequence(2, 2, seed=0, num_frames=1, spacing=1.2, solo=True)
    assert seq.images.shape == (1, 2, 480, 640, 3) and seq.solo_images.shape == (2, 1, 2, 480, 640, 3)
    assert [p.clip_name for p in seq.people] == ["humanoid3d_run", "humanoid3d_dance_b"]
    pelvis = [p.joints_world[0, 0] for p in seq.people]
    assert abs(np.linalg.norm(pelvis[1] - pelvis[0]) - 1.2) < 0.6  # side by side (paths re-centred)
    background = seq.images[0, 0, 0, 0]
    for v in range(2):
        together = np.any(seq.images[0, v] != background, axis=-1)
        alone = [np.any(seq.solo_images[p, 0, v] != background, axis=-1) for p in range(2)]
        assert together.sum() > max(a.sum() for a in alone)  # both people drawn
        assert not (together & ~(alone[0] | alone[1])).any()  # nothing but them
        # Both ground-truth pelvises project inside the image.
        for p in range(2):
            c = seq.joints_in_camera(p, v)[0, 0]
            uv = seq.K[v] @ c
            assert c[2] > 0 and 0 <= uv[0] / uv[2] < 640 and 0 <= uv[1] / uv[2] < 480
    np.testing.assert_allclose(seq.cam_to_ref(0), np.eye(4), atol=1e-5)
