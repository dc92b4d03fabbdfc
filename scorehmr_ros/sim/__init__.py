"""Simulated camera input (ROS-free): rendered multi-camera sequences with ground truth."""

from scorehmr_ros.sim.sequence import RenderedSequence, build_sequence, default_cache_dir, load_or_build

__all__ = ["RenderedSequence", "build_sequence", "default_cache_dir", "load_or_build"]
