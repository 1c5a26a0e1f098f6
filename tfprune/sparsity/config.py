"""The base of ``tp.sparsity``'s run configurations."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .._runstate import RunConfig, compile_fingerprint

__all__ = ["Config", "compile_fingerprint"]


@dataclass(frozen=True)
class Config(RunConfig):
    """A frozen, validated parameter set: ``__post_init__`` checks every
    field once (errors name ``FUNC``) and stores the normalised values; the
    fields are the run folder's manifest."""

    FUNC: ClassVar[str] = ""
