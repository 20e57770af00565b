"""The few error classes callers may want to catch."""


class VargymError(Exception):
    """Base class of vargym's own errors."""


class WeightsNotAvailableError(VargymError, FileNotFoundError):
    """Model weights are neither cached nor downloadable (offline, or a missing file)."""


class CheckpointError(VargymError, ValueError):
    """A checkpoint is corrupt or does not match the model/config it is loaded into."""
