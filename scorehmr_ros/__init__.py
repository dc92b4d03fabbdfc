"""scorehmr_ros: multi-camera 3D human body recovery with score-guided diffusion (ScoreHMR).

Public API: :class:`Estimator` (one image, one multi-view set, a stream), :class:`View`, :class:`Body`
(``scorehmr_ros.api``, imported on first use so that the ROS process never loads torch).
``scorehmr_ros.core`` is plain PyTorch (no ROS import); ``scorehmr_ros.sim`` generates data;
``scorehmr_ros.viz`` draws; ``scorehmr_ros.ros`` holds the nodes; ``scorehmr_ros.msg`` is generated
from msg/ by rosidl at setup time.
"""

from pkgutil import extend_path

# In the pip/venv route the generated ``scorehmr_ros.msg`` lives in the venv's site-packages
# while this package may be an editable checkout: let the package span both directories.
__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"

_API = ("Estimator", "View", "Body", "ViewFit", "Stream")
__all__ = list(_API)


def __getattr__(name: str):
    if name in _API:
        from scorehmr_ros import api

        return getattr(api, name)
    raise AttributeError(f"module 'scorehmr_ros' has no attribute {name!r}")
