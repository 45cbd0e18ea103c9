"""Errors a VLA policy raises instead of emitting actions it cannot vouch for."""


class UnsafeActionError(RuntimeError):
    """The policy produced NaN/inf scores or actions; it refuses to emit them."""
