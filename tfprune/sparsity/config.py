"""The base of ``tp.sparsity``'s run configurations, and the fingerprint of a
model's compile state for their manifests."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .._runstate import RunConfig, fingerprint

__all__ = ["Config", "compile_fingerprint"]


@dataclass(frozen=True)
class Config(RunConfig):
    """A frozen, validated parameter set: ``__post_init__`` checks every
    field once (errors name ``FUNC``) and stores the normalised values; the
    fields are the run folder's manifest."""

    FUNC: ClassVar[str] = ""

    def _set(self, **values) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)


def _describe(obj):
    """A Keras loss/metric/optimizer by class and config, recursively."""
    if isinstance(obj, (list, tuple)):
        return [_describe(o) for o in obj]
    if isinstance(obj, dict):
        return {str(k): _describe(v) for k, v in obj.items()}
    if hasattr(obj, "get_config") and not isinstance(obj, type):
        try:
            return {"class": type(obj).__qualname__,
                    "config": obj.get_config()}
        except Exception:  # noqa: BLE001 - a custom object without a config
            pass
    return fingerprint(obj)


def compile_fingerprint(model) -> dict:
    """What ``model`` was compiled with (optimizer class and config, loss,
    metrics, loss weights) as a JSON-able value for a run manifest; empty
    for a model that was never compiled."""
    if not getattr(model, "_is_compiled", False) or model.optimizer is None:
        return {}
    args = model._get_compile_args()
    return _describe({key: args[key] for key in (
        "optimizer", "loss", "metrics", "weighted_metrics", "loss_weights")})
