"""Errors a VLA policy raises instead of acting on inputs, or emitting actions, it cannot vouch for."""


class UnsafeActionError(RuntimeError):
    """The policy produced NaN/inf scores or actions, or actions of the wrong shape; it refuses to emit them."""


class InvalidObservationError(ValueError):
    """An observation the policy refuses to act on (wrong shape or dtype, non-finite values); the message names
    the batch key, what it got and what was expected."""
