"""Exception types. Each is also a builtin exception users already catch."""


class TfpruneError(Exception):
    """Base class of every error tfprune raises on purpose."""


class InvalidParameterError(TfpruneError, ValueError):
    """A parameter has a bad value; the message names it and the fix."""


class RenamedArgumentError(InvalidParameterError, TypeError):
    """A renamed argument given under both its new and its old name."""


class ModelTypeError(TfpruneError, TypeError):
    """A model of the wrong kind (Keras 3, subclassed, not a model)."""


class UnsupportedLayerError(TfpruneError, NotImplementedError):
    """A layer on the path of an operation has no handler."""


class ResumeMismatchError(TfpruneError, ValueError):
    """A checkpoint folder was written by a run with other parameters."""


class RunStateError(TfpruneError, ValueError):
    """A run folder's file is damaged (truncated, edited, missing); the
    message names the file and what to delete."""
