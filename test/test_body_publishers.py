"""BodyPublishers: per-id publishers never race the executor's wait set (the multi-person stall)."""

import pytest
from rclpy.lifecycle import LifecycleNode

from scorehmr_ros.ros.body_publishers import BodyPublishers
from scorehmr_ros.ros.node_diagnostics import NodeMetrics

pytestmark = pytest.mark.ros


def test_removing_an_id_cannot_break_a_wait_set_being_built(ros_context):
    """The executor copies ``node.waitables``, then enters and adds each one to its wait set.
    An id removed in between (dispatcher thread, tracked timer) destroyed its joint-state
    publisher; when that publisher had QoS event handlers among the waitables, adding them raised
    InvalidHandle out of spin_once and the node stopped taking sets (1 run in ~8 of the two-id
    DDS test). This replays that order of events deterministically."""
    from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy

    node = LifecycleNode("body_publishers_test", context=ros_context)
    try:
        params = {"max_people": 3, "person_timeout_s": 0.3, "person_lost_s": 0.2, "tracked_period_s": 1.0}
        outputs = BodyPublishers(node, ["cam1"], params, NodeMetrics(["cam1"]), str, lambda _: None, None)
        outputs.update_ids(["b0", "b1"])
        outputs._joint_publisher("b0")
        outputs._joint_publisher("b1")
        stale = list(node.waitables)  # what a spinning executor holds while building its wait set
        outputs.update_ids(["b1"])  # b0 leaves: its publisher is destroyed
        assert node.count_publishers("/humans/bodies/b0/joint_states") == 0
        with ros_context.handle:
            wait_set = _rclpy.WaitSet(0, 0, 0, 0, 0, sum(w.get_num_entities().num_events for w in stale),
                                      ros_context.handle)  # fmt: skip
        for waitable in stale:
            waitable.add_to_wait_set(wait_set)  # InvalidHandle for a destroyed publisher's handlers
        outputs.destroy()
    finally:
        node.destroy_node()
