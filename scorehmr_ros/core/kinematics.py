"""Forward kinematics of a joint tree, one batched step per tree depth (no ROS, plain torch).

``smplx.lbs.batch_rigid_transform`` walks the 24 SMPL joints one by one (23 small matmuls forward
and twice that backward). The guidance loop runs forward kinematics plus its gradient about
thirty times per synchronised set, so here every joint at the same depth of the tree is composed
in one batched matmul: SMPL has depth 8, i.e. 8 steps instead of 23. The semantics are those of
``batch_rigid_transform`` (checked in test/test_body_model.py, values and gradients).
"""

from __future__ import annotations

import torch


class TreeKinematics:
    """Forward kinematics for a fixed tree given by ``parents`` (J,) with ``parents[0] = -1``.

    Joints must be listed parents-first (true for SMPL's kinematic table).
    """

    def __init__(self, parents: torch.Tensor | list[int]):
        parents = [int(p) for p in torch.as_tensor(parents).tolist()]
        if parents[0] != -1 or any(p >= j for j, p in enumerate(parents) if j > 0):
            raise ValueError("parents must start with -1 and list every parent before its child")
        depth = [0] * len(parents)
        for j in range(1, len(parents)):
            depth[j] = depth[parents[j]] + 1
        self.levels: list[torch.Tensor] = []  # joint ids at each depth
        self.parent_slot: list[torch.Tensor] = []  # position of each joint's parent in the level above
        for d in range(max(depth) + 1):
            ids = [j for j in range(len(parents)) if depth[j] == d]
            self.levels.append(torch.tensor(ids, dtype=torch.long))
            if d > 0:
                above = self.levels[d - 1].tolist()
                self.parent_slot.append(
                    torch.tensor([above.index(parents[j]) for j in ids], dtype=torch.long)
                )
        self.parents = torch.tensor(parents, dtype=torch.long)
        order = torch.cat(self.levels)
        self.restore = torch.empty_like(order)
        self.restore[order] = torch.arange(len(order))  # level-major order -> joint order

    def __call__(self, rot: torch.Tensor, rest: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posed joints and skinning transforms.

        Args:
            rot: (B, J, 3, 3) local joint rotations (row 0: global orientation).
            rest: (B, J, 3) rest-pose joint positions.
        Returns:
            joints (B, J, 3) posed joint positions, and (B, J, 4, 4) transforms that map rest-pose
            points to posed points for each joint (``batch_rigid_transform``'s ``rel_transforms``).
        """
        ids = self.levels[0]
        R_level, p_level = rot[:, ids], rest[:, ids]
        Rs, ps = [R_level], [p_level]
        for ids, slot in zip(self.levels[1:], self.parent_slot, strict=True):
            R_par, p_par = R_level[:, slot], p_level[:, slot]
            offset = rest[:, ids] - rest[:, self.parents[ids]]
            p_level = (R_par @ offset.unsqueeze(-1)).squeeze(-1) + p_par
            R_level = R_par @ rot[:, ids]
            Rs.append(R_level)
            ps.append(p_level)
        R = torch.cat(Rs, dim=1)[:, self.restore]  # (B, J, 3, 3) global rotations
        joints = torch.cat(ps, dim=1)[:, self.restore]  # (B, J, 3)
        t = joints - (R @ rest.unsqueeze(-1)).squeeze(-1)
        top = torch.cat([R, t.unsqueeze(-1)], dim=-1)  # (B, J, 3, 4)
        bottom = top.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(*top.shape[:2], 1, 4)
        return joints, torch.cat([top, bottom], dim=-2)
