"""The tiny VLA policy of the vla tests (built by the shared ``make_policy`` factory in tests/conftest.py)."""

import pytest

from vst_vla.policy.processed import ProcessedPolicy


@pytest.fixture
def tiny_policy(make_policy) -> ProcessedPolicy:
    """A fresh tiny policy (tokens head, chunk 2, 2 actions per inference)."""
    return make_policy()
