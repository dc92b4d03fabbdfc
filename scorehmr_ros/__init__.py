"""scorehmr_ros: multi-camera 3D human body recovery with score-guided diffusion (ScoreHMR).

``scorehmr_ros.core`` is plain PyTorch (no ROS import); ``scorehmr_ros.ros`` holds the nodes.
``scorehmr_ros.msg`` is generated from msg/ by rosidl at setup time.
"""

from pkgutil import extend_path

# In the pip/venv route the generated ``scorehmr_ros.msg`` lives in the venv's site-packages
# while this package may be an editable checkout: let the package span both directories.
__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
