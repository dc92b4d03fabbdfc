"""Checkpoints of the networks trained here: safe loading (``weights_only=True``), clear errors."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn


class WeightsError(RuntimeError):
    """A weights file that is missing, corrupt or does not match the expected model."""


def save_checkpoint(path: str | Path, model: nn.Module, config, extra: dict | None = None) -> None:
    """Save ``{"config": dict, "state_dict": ..., **extra}`` loadable with ``weights_only=True``."""
    payload = {"config": asdict(config), "state_dict": model.state_dict(), **(extra or {})}
    torch.save(payload, str(path))


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint safely (``weights_only=True``); clear errors for missing/corrupt files."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        payload = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated/garbage files
        raise WeightsError(f"cannot read weights file {path}: {exc}") from exc
    if not isinstance(payload, dict) or "state_dict" not in payload or "config" not in payload:
        raise WeightsError(f"{path} is not a scorehmr_ros checkpoint (no config/state_dict)")
    return payload


def build_from_checkpoint(path: str | Path, model_cls, config_cls):
    """Instantiate ``model_cls(config_cls(**config))`` and load the state dict, strictly."""
    payload = load_checkpoint(path)
    try:
        model = model_cls(config_cls(**payload["config"]))
        model.load_state_dict(payload["state_dict"], strict=True)
    except (TypeError, RuntimeError) as exc:
        raise WeightsError(f"{path} does not match {model_cls.__name__}: {exc}") from exc
    return model.eval(), payload
