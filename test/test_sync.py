"""ApproximateTimeSync against the documented semantics of message_filters' C++ ApproximateTime policy."""

import itertools
import random
import time

import pytest

from scorehmr_ros.ros.sync import ApproximateTimeSync, SyncedSet, SynchronizerNodeAdapter, stamp_to_ns

MS = 1_000_000
PERIOD_30HZ = 1_000_000_000 // 30
T0 = 1_000_000_000_000  # an arbitrary epoch offset (ns)


def _events(rng, num_frames, inputs, sigma_ms=0.0, clip_ms=0.0, max_delay_ms=0.0):
    """(arrival, input, stamp, (input, frame)) for inputs given as {index: (period_ns, offset_ns)}."""
    events = []
    for index, (period, offset) in inputs.items():
        for frame in range(num_frames):
            jitter = max(-clip_ms, min(clip_ms, rng.gauss(0.0, sigma_ms))) if sigma_ms else 0.0
            stamp = T0 + offset + frame * period + round(jitter * MS)
            arrival = stamp + round(rng.uniform(0.0, max_delay_ms) * MS)
            events.append((arrival, index, stamp, (index, frame)))
    events.sort(key=lambda e: (e[0], rng.random()))
    return events


def _feed(sync, events, poll=False):
    out = []
    for _, index, stamp, msg in events:
        out += sync.add(index, stamp, msg)
        if poll:
            out += sync.poll()
    return out


def _check_invariants(sync, sets, slop_ns=None):
    used = set()
    for synced in sets:
        assert isinstance(synced, SyncedSet) and len(synced.messages) == sync.num_inputs
        assert synced.emitted_partial == any(m is None for m in synced.messages)
        for index, (msg, stamp) in enumerate(zip(synced.messages, synced.stamps_ns, strict=True)):
            assert (msg is None) == (stamp is None)
            if msg is not None:
                assert msg[0] == index  # one message per input, at its own position
                assert id(msg) not in used  # each message used at most once
                used.add(id(msg))
        if slop_ns is not None:
            assert synced.spread_ns <= slop_ns
    for a, b in itertools.pairwise(sets):  # strictly increasing time order
        assert b.start_ns > a.start_ns and b.end_ns > a.end_ns
    for index in range(sync.num_inputs):
        stamps = [s.stamps_ns[index] for s in sets if s.stamps_ns[index] is not None]
        assert stamps == sorted(set(stamps))
    st = sync.stats
    emitted = sum(m is not None for s in sets for m in s.messages)
    dropped = (
        st.dropped_late
        + st.dropped_duplicate
        + st.dropped_queue_overflow
        + st.dropped_unmatched
        + st.dropped_timeout
    )
    assert st.received == emitted + dropped + sync.num_pending
    assert sum(st.per_input_dropped) == dropped
    assert st.emitted_full + st.emitted_partial == len(sets)


def _frames(synced):
    return {m[1] for m in synced.messages if m is not None}


def test_exact_time_streams_every_set_matched_in_order():
    rng = random.Random(1)
    inputs = {i: (PERIOD_30HZ, 0) for i in range(3)}
    sync = ApproximateTimeSync(3, queue_size=5)
    sets = _feed(sync, _events(rng, 60, inputs, max_delay_ms=25.0))
    assert [_frames(s) for s in sets] == [{k} for k in range(60)]
    assert all(s.spread_ns == 0 and not s.emitted_partial for s in sets)
    _check_invariants(sync, sets)
    assert sync.num_pending == 0 and sync.stats.emitted_full == 60


def test_late_and_duplicate_messages_are_dropped_and_counted():
    sync = ApproximateTimeSync(2, queue_size=5)
    assert sync.add(0, 10 * MS, (0, 0)) == []
    [first] = sync.add(1, 10 * MS, (1, 0))
    assert first.stamps_ns == [10 * MS, 10 * MS]
    assert sync.add(0, 5 * MS, (0, -1)) == [] and sync.add(0, 10 * MS, (0, -2)) == []
    assert sync.stats.dropped_late == 2
    assert sync.add(0, 40 * MS, (0, 1)) == [] and sync.add(0, 40 * MS, (0, 99)) == []
    assert sync.stats.dropped_duplicate == 1
    assert sync.add(1, 41 * MS, (1, 1)) == []  # an A message at 40.5 ms could still beat A@40
    [second] = sync.add(0, 73 * MS, (0, 2))
    assert second.messages == [(0, 1), (1, 1)]


def test_out_of_order_arrival_within_an_input_is_reordered():
    sync = ApproximateTimeSync(2, queue_size=5)
    sync.add(0, 40 * MS, (0, 1))
    sync.add(0, 10 * MS, (0, 0))  # arrives late but nothing was emitted at that time yet
    assert sync.stats.reordered == 1
    sets = sync.add(1, 10 * MS, (1, 0)) + sync.add(1, 40 * MS, (1, 1))
    assert [s.messages for s in sets] == [[(0, 0), (1, 0)], [(0, 1), (1, 1)]]


def test_queue_overflow_drops_oldest_and_counts():
    sync = ApproximateTimeSync(2, queue_size=3)
    for k in range(5):
        assert sync.add(0, k * MS, (0, k)) == []
    assert sync.stats.dropped_queue_overflow == 2 and sync.num_pending == 3
    [synced] = sync.add(1, 4 * MS, (1, 4))
    assert synced.messages == [(0, 4), (1, 4)]
    assert sync.stats.dropped_unmatched == 2  # 2 and 3 lost to the better set
    _check_invariants(sync, [synced])


def test_slop_rejects_wide_sets():
    sync = ApproximateTimeSync(2, queue_size=5, slop_ns=10 * MS)
    assert sync.add(0, 0, (0, 0)) == [] and sync.add(1, 50 * MS, (1, 0)) == []
    assert sync.stats.dropped_unmatched == 1  # A@0 can never be within 10 ms of B@50
    assert sync.add(0, 48 * MS, (0, 1)) == []
    [synced] = sync.add(0, 81 * MS, (0, 2))
    assert synced.messages == [(0, 1), (1, 0)] and synced.spread_ns == 2 * MS


def test_waits_until_no_better_set_can_come():
    """A greedy matcher would emit (A@0, B@10) at once; the adaptive policy waits and finds A@9."""
    sync = ApproximateTimeSync(2, queue_size=5)
    assert sync.add(0, 0, (0, 0)) == []
    assert sync.add(1, 10 * MS, (1, 0)) == []  # A's next message might be closer to B@10
    assert sync.add(0, 9 * MS, (0, 1)) == []  # ... it was; A@10.5 could still be better
    assert sync.add(1, 43 * MS, (1, 1)) == []
    [synced] = sync.add(0, 42 * MS, (0, 2))  # A@42 is worse, so (A@9, B@10) is proven best
    assert synced.messages == [(0, 1), (1, 0)]
    assert sync.stats.dropped_unmatched == 1  # A@0


def test_inter_message_lower_bound_proves_optimality_early():
    sync = ApproximateTimeSync(2, queue_size=5, inter_message_lower_bounds_ns=[5 * MS, 5 * MS])
    sync.add(0, 0, (0, 0))
    sync.add(1, 10 * MS, (1, 0))
    [synced] = sync.add(0, 9 * MS, (0, 1))  # A's next is >= 14 ms: nothing can beat spread 1 ms
    assert synced.messages == [(0, 1), (1, 0)]


@pytest.mark.parametrize("seed", range(3))
def test_jittered_streams_match_the_true_frames(seed):
    rng = random.Random(seed)
    inputs = {0: (PERIOD_30HZ, 0), 1: (PERIOD_30HZ, 1 * MS), 2: (PERIOD_30HZ, -2 * MS)}
    events = _events(rng, 300, inputs, sigma_ms=2.5, clip_ms=5.0, max_delay_ms=15.0)
    sync = ApproximateTimeSync(3, queue_size=10)
    sets = _feed(sync, events)
    _check_invariants(sync, sets)
    assert all(len(_frames(s)) == 1 for s in sets)  # every set from one true frame
    assert len(sets) >= 0.95 * 300


def test_different_rates_pair_each_slow_message_with_nearest_fast_one():
    rng = random.Random(7)
    inputs = {0: (PERIOD_30HZ, 0), 1: (3 * PERIOD_30HZ, 12 * MS)}
    events = _events(rng, 90, inputs, sigma_ms=1.0, clip_ms=2.0, max_delay_ms=10.0)
    fast = {msg: stamp for _, index, stamp, msg in events if index == 0}
    sync = ApproximateTimeSync(2, queue_size=10)
    sets = _feed(sync, events)
    _check_invariants(sync, sets)
    assert len(sets) >= 29
    for synced in sets:
        slow_stamp = synced.stamps_ns[1]
        nearest = min(fast, key=lambda m: abs(fast[m] - slow_stamp))
        assert synced.messages[0] == nearest


@pytest.mark.parametrize("seed", range(30))
def test_random_streams_keep_invariants(seed):
    """Random rates, jitter, delays, duplicates, dead spans, slop, bounds, partial mode."""
    rng = random.Random(100 + seed)
    n = rng.randint(1, 4)
    inputs = {
        i: (rng.choice([PERIOD_30HZ, 2 * PERIOD_30HZ, 50 * MS]), rng.randint(0, 20) * MS) for i in range(n)
    }
    events = _events(
        rng,
        50,
        inputs,
        sigma_ms=rng.choice([0.0, 3.0, 10.0]),
        clip_ms=20.0,
        max_delay_ms=rng.choice([0, 60, 200]),
    )
    dead = {i: (rng.randint(0, 40), rng.randint(0, 30)) for i in range(n) if rng.random() < 0.5}
    events = [e for e in events if not (e[1] in dead and 0 <= e[3][1] - dead[e[1]][0] < dead[e[1]][1])]
    events += rng.sample(events, 5)  # duplicates
    events.sort(key=lambda e: e[0])
    slop = rng.choice([None, 5 * MS, 20 * MS])
    partial = rng.choice([None, 100 * MS, 150 * MS])
    sync = ApproximateTimeSync(
        n,
        rng.randint(1, 6),
        slop_ns=slop,
        partial_timeout_ns=partial,
        min_inputs_for_partial=rng.randint(1, n),
        inter_message_lower_bounds_ns=[rng.choice([0, 10 * MS]) for _ in range(n)],
    )
    sets = _feed(sync, events, poll=partial is not None)
    _check_invariants(sync, sets, slop)
    assert sets or slop is not None  # a tight slop can rule out every set of offset streams


def _dead_camera_events(rng):
    """Three 30 Hz cameras; camera 2 is silent for frames 60..149."""
    inputs = {i: (PERIOD_30HZ, 0) for i in range(3)}
    events = _events(rng, 240, inputs, sigma_ms=2.0, clip_ms=4.0, max_delay_ms=10.0)
    return [e for e in events if not (e[1] == 2 and 60 <= e[3][1] < 150)]


def test_partial_sets_when_an_input_dies_and_full_sets_when_it_returns():
    events = _dead_camera_events(random.Random(3))
    sync = ApproximateTimeSync(3, queue_size=10, partial_timeout_ns=100 * MS)
    sets = _feed(sync, events, poll=True)
    _check_invariants(sync, sets)
    assert all(len(_frames(s)) == 1 for s in sets)
    by_frame = {_frames(s).pop(): s for s in sets}
    assert all(not by_frame[k].emitted_partial for k in range(60))
    partial_frames = [k for k, s in by_frame.items() if s.emitted_partial]
    assert len(partial_frames) >= 80 and 60 <= min(partial_frames) and max(partial_frames) < 150
    assert all(by_frame[k].messages[2] is None and by_frame[k].stamps_ns[2] is None for k in partial_frames)
    assert all(k in by_frame and not by_frame[k].emitted_partial for k in range(150, 235))
    assert sync.stats.emitted_partial == len(partial_frames)


def test_without_partial_mode_a_dead_input_stalls_the_others():
    events = _dead_camera_events(random.Random(3))
    sync = ApproximateTimeSync(3, queue_size=10)
    sets = _feed(sync, events, poll=True)  # poll is a no-op here
    _check_invariants(sync, sets)
    frames = [_frames(s).pop() for s in sets]
    assert not [k for k in frames if 60 <= k < 150]
    assert set(range(59)) <= set(frames) and set(range(150, 235)) <= set(frames)
    assert sync.stats.dropped_queue_overflow > 0


def test_partial_needs_min_inputs():
    rng = random.Random(5)
    events = _events(rng, 40, {i: (PERIOD_30HZ, 0) for i in range(3)})
    events = [e for e in events if e[1] == 0 or e[3][1] < 10]  # inputs 1 and 2 die after frame 9
    sync = ApproximateTimeSync(3, queue_size=50, partial_timeout_ns=100 * MS, min_inputs_for_partial=2)
    sets = _feed(sync, events, poll=True)
    _check_invariants(sync, sets)
    assert len(sets) == 10 and sync.stats.emitted_partial == 0
    assert sync.stats.dropped_timeout > 20


def test_stamp_to_ns():
    from builtin_interfaces.msg import Time

    assert stamp_to_ns(Time(sec=12, nanosec=345)) == 12_000_000_345


@pytest.mark.ros
def test_rclpy_adapter_delivers_synced_and_partial_sets(ros_context):
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import CameraInfo

    pub_node = Node("sync_test_publisher", context=ros_context)
    sub_node = Node("sync_test_subscriber", context=ros_context)
    topics = ["/sync_test/cam0/camera_info", "/sync_test/cam1/camera_info"]
    received = []
    adapter = SynchronizerNodeAdapter(
        sub_node,
        [(CameraInfo, topic, 10) for topic in topics],
        lambda *msgs: received.append(msgs),
        queue_size=10,
        partial_timeout_ns=150 * MS,
    )
    publishers = [pub_node.create_publisher(CameraInfo, topic, 10) for topic in topics]
    state = {"tick": 0, "cam1_alive": True}

    def publish():
        stamp = pub_node.get_clock().now().to_msg()
        for k, publisher in enumerate(publishers):
            if k == 0 or state["cam1_alive"]:
                msg = CameraInfo(width=state["tick"])
                msg.header.stamp, msg.header.frame_id = stamp, f"cam{k}"
                publisher.publish(msg)
        state["tick"] += 1

    pub_node.create_timer(0.02, publish)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(pub_node)
    executor.add_node(sub_node)

    def spin_until(predicate, timeout=4.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not predicate():
            executor.spin_once(timeout_sec=0.02)
        return predicate()

    try:
        assert spin_until(lambda: sum(None not in m for m in received) >= 5)
        state["cam1_alive"] = False
        assert spin_until(lambda: sum(m[1] is None for m in received[-3:]) == 3)
    finally:
        adapter.destroy()
        executor.shutdown()
        pub_node.destroy_node()
        sub_node.destroy_node()
    full = [m for m in received if None not in m]
    assert all(a.header.stamp == b.header.stamp and a.width == b.width for a, b in full)
    assert all((a.header.frame_id, b.header.frame_id) == ("cam0", "cam1") for a, b in full)
    assert all(m[0] is not None and m[0].header.frame_id == "cam0" for m in received if m[1] is None)


def test_slow_replay_with_sim_time_splits_no_set(ros_context):
    """A 0.25x replay with /clock and use_sim_time, header stamps 0.6 s behind the recorded clock
    (detector latency in the bag) and one camera 60 ms late: every set comes out complete."""
    import time as _time

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rosgraph_msgs.msg import Clock
    from std_msgs.msg import Header

    from scorehmr_ros.msg import Keypoints2D
    from scorehmr_ros.ros.sync import SynchronizerNodeAdapter

    node = Node(
        "sync_sim_time",
        context=ros_context,
        parameter_overrides=[Parameter("use_sim_time", value=True)],
    )
    player = Node("player", context=ros_context)
    sets = []
    adapter = SynchronizerNodeAdapter(
        node,
        [(Keypoints2D, f"c{i}/keypoints", 10) for i in range(3)],
        lambda *m: sets.append(m),
        queue_size=10,
        slop_ns=30_000_000,
        partial_timeout_ns=500_000_000,
    )
    clock_pub = player.create_publisher(Clock, "/clock", 10)
    pubs = [player.create_publisher(Keypoints2D, f"c{i}/keypoints", 10) for i in range(3)]
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    executor.add_node(player)

    def spin_for(seconds):
        end = _time.monotonic() + seconds
        while _time.monotonic() < end:
            executor.spin_once(timeout_sec=0.01)

    try:
        end = _time.monotonic() + 10
        while _time.monotonic() < end and not all(p.get_subscription_count() for p in pubs):
            spin_for(0.05)
        sim = 1000 * 10**9
        frames = 12
        for _ in range(frames):
            sim += 33_333_333
            clock_pub.publish(Clock(clock=rclpy.time.Time(nanoseconds=sim).to_msg()))
            stamp = rclpy.time.Time(nanoseconds=sim - 600_000_000).to_msg()
            for i in (0, 1):
                pubs[i].publish(Keypoints2D(header=Header(stamp=stamp)))
            spin_for(0.06)
            pubs[2].publish(Keypoints2D(header=Header(stamp=stamp)))
            spin_for(0.133 - 0.06)  # 30 Hz at 0.25x
        spin_for(1.0)
        stats = adapter.sync.stats
        assert stats.emitted_partial == 0, stats
        assert stats.emitted_full >= frames - 1 and all(None not in s for s in sets)
    finally:
        adapter.destroy()
        executor.shutdown()
        node.destroy_node()
        player.destroy_node()
