"""Several tasks in one LeRobot dataset: collection, metadata, refusals, config resolution and per-task evaluation."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf
from vst_envs import LiftEnvConfig, TabletopEnvConfig

from vst_vla.collect import run_collect
from vst_vla.config.store import compose
from vst_vla.data import episode_sources
from vst_vla.data.collect import collect_multitask_demos
from vst_vla.data.config import ENV_METADATA_FILE, CollectConfig
from vst_vla.data.multitask import (
    TaskLayoutError,
    check_same_spaces,
    env_configs_from_metadata,
    resolve_tasks,
)
from vst_vla.rollout.multitask import PLOT_FILE, SUMMARY_BY_TASK_FILE, evaluate_tasks
from vst_vla.rollout.parallel import ExpertPolicyFactory
from vst_vla.rollout.stats import format_summary_table

# Short failed-or-not episodes (keep_failed) at 64 px keep the collection to a few seconds.
COMMON = {"image_size": 64, "cheap_render": True, "max_episode_steps": 12}
TASKS = {"lift": LiftEnvConfig(**COMMON), "tabletop_pick": TabletopEnvConfig(**COMMON)}


@pytest.fixture(scope="module")
def multitask_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mt") / "ds"
    report = collect_multitask_demos(TASKS, CollectConfig(root=str(root), num_episodes=1, seed=5, keep_failed=True))
    assert report.episode_tasks == ("lift", "tabletop_pick") and report.seeds == (5, 5)
    assert report.frames == 2 * COMMON["max_episode_steps"]
    return root


def test_one_dataset_holds_every_task_with_its_instruction(multitask_root: Path) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset("local/vst_lift", root=multitask_root)
    assert ds.num_episodes == 2 and len(ds) == 2 * COMMON["max_episode_steps"]
    first, last = ds[0], ds[len(ds) - 1]
    assert first["task"] == "lift the red cube" and first["episode_index"].item() == 0
    assert last["task"].startswith("pick up the") and last["episode_index"].item() == 1
    assert len(ds.meta.tasks) == 2


def test_metadata_records_every_task_env(multitask_root: Path) -> None:
    meta = json.loads((multitask_root / ENV_METADATA_FILE).read_text())
    assert meta["version"] == 2 and list(meta["tasks"]) == ["lift", "tabletop_pick"]
    assert meta["env"] == TASKS["lift"].to_dict()  # what single-task readers see
    assert [meta["tasks"][t]["episode_indices"] for t in TASKS] == [[0], [1]]
    assert meta["tasks"]["tabletop_pick"]["expert"] == "PickExpert"
    assert meta["collection"]["episode_tasks"] == ["lift", "tabletop_pick"]
    assert env_configs_from_metadata(meta) == TASKS
    assert env_configs_from_metadata({"env": TASKS["lift"].to_dict()}) == {"lift": TASKS["lift"]}  # version 1


def test_evaluation_over_tasks_writes_a_table_and_a_plot(multitask_root: Path, tmp_path: Path) -> None:
    meta = json.loads((multitask_root / ENV_METADATA_FILE).read_text())
    env_cfgs = env_configs_from_metadata(meta, {"max_episode_steps": 6})
    rollout = SimpleNamespace(seeds=[0], n_videos=0, max_steps=None, num_workers=1)
    summaries = evaluate_tasks(None, env_cfgs, rollout, tmp_path, progress=False, policy_factory=ExpertPolicyFactory())
    assert list(summaries) == ["lift", "tabletop_pick"]
    assert all(s.n_episodes == 1 and s.mean_episode_length == 6 for s in summaries.values())
    assert (tmp_path / "lift" / "summary.json").is_file() and (tmp_path / "tabletop_pick" / "episodes.jsonl").is_file()
    assert (tmp_path / PLOT_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    by_task = json.loads((tmp_path / SUMMARY_BY_TASK_FILE).read_text())
    assert list(by_task["tasks"]) == ["lift", "tabletop_pick"]
    assert "average (2 tasks)" in format_summary_table(summaries)


def test_mismatched_tasks_are_refused_before_any_env_is_built(tmp_path: Path, monkeypatch) -> None:
    def no_env(cfg):
        raise AssertionError("no env may be built for tasks that cannot share a dataset")

    monkeypatch.setattr(episode_sources, "make_env", no_env)  # the one used in this process (num_workers=1)
    collect = CollectConfig(root=str(tmp_path / "ds"), num_episodes=1, num_workers=1)
    wrist = {"lift": LiftEnvConfig(), "tabletop_pick": TabletopEnvConfig(cameras=("agentview", "robot0_eye_in_hand"))}
    with pytest.raises(TaskLayoutError, match=r"cameras \(lift=\['agentview'\], tabletop_pick=\['agentview', 'rob"):
        collect_multitask_demos(wrist, collect)
    with pytest.raises(TaskLayoutError, match=r"image_size \(lift=128, tabletop_pick=64\)"):
        collect_multitask_demos({"lift": LiftEnvConfig(), "tabletop_pick": TabletopEnvConfig(image_size=64)}, collect)
    with pytest.raises(TaskLayoutError, match="no cameras"):
        collect_multitask_demos({"lift": LiftEnvConfig(cameras=())}, collect)
    assert not (tmp_path / "ds").exists()


def test_state_or_action_layout_mismatch_message() -> None:
    with pytest.raises(TaskLayoutError, match=r"task 'b' has state shape \(8,\).*task 'a' has \(9,\)"):
        check_same_spaces("b", (8,), (7,), "a", ((9,), (7,)))


def test_tasks_resolve_from_names_files_and_dicts() -> None:
    tasks = resolve_tasks(["lift", {"type": "lift", "name": "lift_green", "instruction": "lift it"}, "stack"],
                          {"image_size": 64, "cameras": None})
    assert list(tasks) == ["lift", "lift_green", "stack"]
    assert {cfg.image_size for cfg in tasks.values()} == {64}
    assert tasks["lift_green"].instruction == "lift it" and tasks["stack"].type == "stack"
    with pytest.raises(ValueError, match="appears twice"):
        resolve_tasks(["lift", "lift"], None)
    with pytest.raises(ValueError, match="unknown task 'lfit'"):
        resolve_tasks(["lfit"], None)
    with pytest.raises(ValueError, match="task 'lift': .*image_size"):
        resolve_tasks(["lift"], {"image_size": 0})


def _collect_cfg(name: str, overrides: list[str]) -> dict:
    return OmegaConf.to_container(compose(name, overrides), resolve=True)


def test_hydra_presets_for_one_and_several_tasks() -> None:
    single = _collect_cfg("collect", ["env=lift"])
    assert "tasks" not in single and single["env"]["type"] == "lift"
    preset = _collect_cfg("collect_multitask", ["task_overrides.image_size=64"])
    assert list(resolve_tasks(preset["tasks"], preset["task_overrides"])) == ["lift", "tabletop_pick"]
    added = _collect_cfg("collect", ["+tasks=[lift,tabletop_pick]", "+task_overrides.image_size=64"])
    assert added["tasks"] == ["lift", "tabletop_pick"] and added["task_overrides"] == {"image_size": 64}
    # env.* overrides would be silently ignored by a multi-task collection: refused instead.
    with pytest.raises(ValueError, match="task_overrides"):
        run_collect(added, env_overrides=["env.image_size=64"])
