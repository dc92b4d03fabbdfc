"""Setup-time tools (no ROS, no torch): model conversion."""
