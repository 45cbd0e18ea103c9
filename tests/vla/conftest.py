"""The tiny VLA policy of the vla tests (built by the shared ``make_policy`` factory in tests/conftest.py)."""

import pytest

from vst_vla.vla.modeling import VLAPolicy


@pytest.fixture
def tiny_policy(make_policy) -> VLAPolicy:
    """A fresh tiny policy (tokens head, chunk 2, 2 actions per inference)."""
    return make_policy()
