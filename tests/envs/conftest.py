"""Fixtures shared by the vst_envs tests: envs are built once per session (building one takes seconds)."""

from __future__ import annotations

import pytest

TABLETOP_IMAGE_SIZE = 64


@pytest.fixture(scope="session")
def tabletop_env():
    """A 64 px cheap-render agentview tabletop_pick env."""
    from vst_envs import TabletopEnvConfig, make_env

    env = make_env(TabletopEnvConfig(image_size=TABLETOP_IMAGE_SIZE, cheap_render=True, max_episode_steps=120))
    yield env
    env.close()
    env.close()  # closing twice must be harmless


@pytest.fixture(scope="session")
def tabletop_state_env():
    """A camera-free tabletop_pick env with a short time limit, made through gymnasium.make."""
    import gymnasium
    from vst_envs import TABLETOP_ENV_ID, TabletopEnvConfig

    # Through config=: gymnasium.make would take max_episode_steps for its own TimeLimit wrapper.
    env = gymnasium.make(TABLETOP_ENV_ID, config=TabletopEnvConfig(cameras=(), max_episode_steps=20))
    yield env
    env.close()
