"""Errors whose message alone tells the user what went wrong and where.

``tools/train.py`` and ``tools/test.py`` print these as one line (no
traceback): the message names the culprit (file, config key, epoch/iter),
which a deep torch or OpenCV traceback does not. They also subclass the
built-in exception a caller would expect, so ``except ValueError`` etc. keep
working.
"""


class ReportedError(Exception):
    """Base class: the message is the whole report."""


class NonFiniteLossError(ReportedError, FloatingPointError):
    """Training produced a NaN/inf loss (or weights)."""


class CheckpointError(ReportedError, RuntimeError):
    """A checkpoint cannot be read, or does not fit the model."""


class BadImageError(ReportedError, ValueError):
    """An image file is empty, truncated or not an image."""


class ConfigError(ReportedError, ValueError):
    """A config is missing a value or names something that does not exist."""
