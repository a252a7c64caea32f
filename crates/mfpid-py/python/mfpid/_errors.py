"""Exceptions raised by :mod:`mfpid`.

Every exception derives from :class:`Error`. Bad input raises a subclass of
:class:`InvalidArgument`, which is also a :class:`ValueError`; its message starts with the
argument's name and the name is in ``exc.argument``. Numerical failures raise :class:`SolverError`.
Ctrl-C during a run raises the usual :class:`KeyboardInterrupt`.
"""

from typing import Optional


class Error(Exception):
    """Base class of every mfpid exception. ``argument`` names the offending argument (or None)."""

    def __init__(self, message: str, argument: Optional[str] = None) -> None:
        super().__init__(message)
        self.argument = argument


class InvalidArgument(Error, ValueError):
    """Bad input: a value out of range, a negative size, inconsistent lengths, unknown names."""


class ShapeError(InvalidArgument):
    """An array has the wrong number of dimensions or the wrong shape."""


class DTypeError(InvalidArgument, TypeError):
    """An array is not float64 (or cannot be read as float64), or an object has the wrong type."""


class LayoutError(InvalidArgument):
    """An array is not C-contiguous (pass ``numpy.ascontiguousarray(x)``)."""


class NonFiniteError(InvalidArgument):
    """An input contains NaN or infinity."""


class NotPositiveDefiniteError(InvalidArgument):
    """A covariance matrix is not symmetric positive definite."""


class SolverError(Error, RuntimeError):
    """The numerics failed (no convergence, unstable step, non-finite state)."""


__all__ = [
    "Error",
    "InvalidArgument",
    "ShapeError",
    "DTypeError",
    "LayoutError",
    "NonFiniteError",
    "NotPositiveDefiniteError",
    "SolverError",
]
