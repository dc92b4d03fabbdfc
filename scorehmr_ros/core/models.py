"""The trained parts bundled: body model, per-view regressor, denoiser, diffusion schedule."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scorehmr_ros.core.body_model import BodyModel, load_body_model
from scorehmr_ros.core.denoiser import Denoiser, load_denoiser
from scorehmr_ros.core.diffusion import Schedule
from scorehmr_ros.core.regressor import KeypointRegressor, load_regressor


@dataclass
class ScoreHMRModels:
    body_model: BodyModel
    regressor: KeypointRegressor
    denoiser: Denoiser
    schedule: Schedule

    @classmethod
    def load(
        cls,
        body_model_path: str | Path | None = None,
        regressor_path: str | Path | None = None,
        denoiser_path: str | Path | None = None,
    ) -> ScoreHMRModels:
        """Packaged weights and the synthetic body model unless paths are given."""
        regressor = load_regressor(regressor_path)
        denoiser = load_denoiser(denoiser_path)
        if denoiser.cfg.cond_dim != regressor.cfg.feature_dim:
            raise ValueError(
                f"denoiser expects {denoiser.cfg.cond_dim}-D conditioning, "
                f"regressor gives {regressor.cfg.feature_dim}"
            )
        return cls(load_body_model(body_model_path), regressor, denoiser, Schedule.cosine(1000))
