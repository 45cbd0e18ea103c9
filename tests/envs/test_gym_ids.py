"""Every registered env type has a gymnasium id made from the same registry, and each passes gymnasium's checker.

The checker builds a 32 px cheap-render env per task (~1.5 s each, the whole file ~15 s on 2 busy cores), so
every task is checked in the default run; ``docs/envs.md`` records the results and the warnings.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import ClassVar

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env
from vst_envs import ENVS, LiftEnvConfig, TabletopEnvConfig, gym_id
from vst_envs.registry import make_gym_env

# Hand-written: the id of a type is its CamelCase name (the ids users type must not drift with the code).
EXPECTED_IDS = {
    "door": "vst_envs/Door-v0",
    "lift": "vst_envs/Lift-v0",
    "nut_assembly_square": "vst_envs/NutAssemblySquare-v0",
    "pick_place_can": "vst_envs/PickPlaceCan-v0",
    "stack": "vst_envs/Stack-v0",
    "tabletop_pick": "vst_envs/TabletopPick-v0",
}

# The only checker warnings expected: agent_pos (eef pose, finger joints) is a Box without finite bounds.
EXPECTED_CHECKER_WARNINGS = (
    "A Box observation space minimum value is -infinity",
    "A Box observation space maximum value is infinity",
)

# Small and plain so a build + check takes seconds.
CHECK_FIELDS = {"image_size": 32, "cheap_render": True}


def test_ids_are_camel_case_of_the_type() -> None:
    assert gym_id("lift") == "vst_envs/Lift-v0"
    assert gym_id("nut_assembly_square") == "vst_envs/NutAssemblySquare-v0"


def test_every_registered_type_has_its_id() -> None:
    assert ENVS.gym_ids() == EXPECTED_IDS
    for env_type, env_id in ENVS.gym_ids().items():
        spec = gymnasium.spec(env_id)
        assert spec.kwargs == {"type": env_type}
        assert spec.max_episode_steps is None  # the env truncates itself; no second TimeLimit


def test_registering_a_type_registers_its_id(monkeypatch: pytest.MonkeyPatch) -> None:
    # A private copy of the entries, so the test type does not leak into other tests' ENVS.names().
    monkeypatch.setattr(ENVS, "_entries", dict(ENVS._entries))
    env_id = "vst_envs/LiftForTest-v0"
    try:

        @ENVS.register("lift_for_test")
        @dataclasses.dataclass(frozen=True)
        class LiftForTestConfig(LiftEnvConfig):
            TYPE: ClassVar[str] = "lift_for_test"
            type: str = "lift_for_test"

        assert ENVS.gym_ids()["lift_for_test"] == env_id
        assert gymnasium.spec(env_id).kwargs == {"type": "lift_for_test"}
    finally:
        gymnasium.registry.pop(env_id, None)


def test_unknown_field_names_the_field_and_the_task() -> None:
    with pytest.raises(ValueError, match=r"vst_envs/Lift-v0 \('lift' task\) has no config field\(s\) \['imge_size'\]"):
        gymnasium.make("vst_envs/Lift-v0", imge_size=64)


def test_config_excludes_fields_and_must_match_the_id() -> None:
    with pytest.raises(ValueError, match="either config or LiftEnvConfig fields"):
        make_gym_env("lift", config=LiftEnvConfig(), image_size=64)
    with pytest.raises(ValueError, match="config must be a LiftEnvConfig, got TabletopEnvConfig"):
        gymnasium.make("vst_envs/Lift-v0", config=TabletopEnvConfig())


def test_fields_as_kwargs_build_that_config() -> None:
    env = gymnasium.make("vst_envs/Lift-v0", image_size=32, cameras=["agentview"], instruction="lift it")
    try:
        assert env.unwrapped.config == LiftEnvConfig(image_size=32, cameras=("agentview",), instruction="lift it")
        # The spec's kwargs are the config dict, so the spec alone makes the same env again.
        assert env.spec.kwargs["type"] == "lift" and env.spec.kwargs["image_size"] == 32
    finally:
        env.close()


@pytest.mark.parametrize("env_type", ENVS.names())
def test_env_passes_gymnasium_check_env(env_type: str) -> None:
    env = gymnasium.make(gym_id(env_type), **CHECK_FIELDS)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()
    # gymnasium's own warnings carry "WARN:"; library deprecation noise during reset/step is not the checker's.
    checker = [str(w.message) for w in caught if "WARN:" in str(w.message)]
    unexpected = [m for m in checker if not any(e in m for e in EXPECTED_CHECKER_WARNINGS)]
    assert not unexpected, f"{gym_id(env_type)}: unexpected check_env warnings {unexpected}"
