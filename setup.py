"""pip/venv route for scorehmr_ros (the colcon route uses CMakeLists.txt).

scripts/setup.sh installs this in editable mode after generating the interfaces in msg/; the
pinned dependencies are in requirements/ (runtime.txt for the node), not in install_requires.
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "scorehmr_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Multi-camera 3D human body recovery (SMPL) with score-guided diffusion, for ROS 2",
    # The ROS 2 Kilted wheels on PyPI (rclpy, the message packages) are built for CPython 3.11 only.
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={PACKAGE: ["data/*.npz", "data/*.pt", "data/*.md", "data/*.json"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*")),
    ],
    entry_points={
        "console_scripts": [
            "scorehmr-smoke = scorehmr_ros.ros.smoke:main",
            "scorehmr-detector = scorehmr_ros.ros.detector_node:main",
            "scorehmr-multiview = scorehmr_ros.ros.multiview_node:main",
            "scorehmr-replay = scorehmr_ros.ros.replay:main",
            "scorehmr-record = scorehmr_ros.ros.recorder:main",
            "scorehmr-demo = scorehmr_ros.ros.demo:main",
            "scorehmr-bench = scorehmr_ros.eval.bench:main",
            "scorehmr-estimate = scorehmr_ros.cli:main",
        ],
    },
)
