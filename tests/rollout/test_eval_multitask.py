"""``vst_vla.eval`` on a checkpoint whose env.json records several tasks: every task, a table, a plot."""

import json
from pathlib import Path

import pytest
from vst_envs import LiftEnvConfig, TabletopEnvConfig, make_env

from vst_vla.config.schema import RolloutConfig
from vst_vla.eval import EvalCommandConfig, run_eval
from vst_vla.precision import resolve_precision
from vst_vla.rollout.multitask import PLOT_FILE
from vst_vla.rollout.parallel import PretrainedPolicyFactory

COMMON = {"image_size": 64, "cheap_render": True}
TASKS = {"lift": LiftEnvConfig(**COMMON), "tabletop_pick": TabletopEnvConfig(**COMMON)}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, make_policy) -> Path:
    policy = make_policy()
    policy.env_metadata = {"version": 2, "env": TASKS["lift"].to_dict(),
                           "tasks": {name: {"env": cfg.to_dict()} for name, cfg in TASKS.items()}}
    return policy.save_pretrained(tmp_path_factory.mktemp("ckpt") / "pretrained_model")


def test_every_task_of_the_checkpoint_is_evaluated(checkpoint: Path, tmp_path: Path, capsys) -> None:
    cfg = EvalCommandConfig(policy_path=str(checkpoint), output_dir=str(tmp_path), device="cpu", precision="fp32",
                            eval=RolloutConfig(n_episodes=1, n_videos=0, max_steps=2))
    summaries = run_eval(cfg)
    assert list(summaries) == ["lift", "tabletop_pick"]
    assert all(s.n_episodes == 1 and s.mean_episode_length == 2 for s in summaries.values())
    assert (tmp_path / PLOT_FILE).is_file() and (tmp_path / "tabletop_pick" / "summary.json").is_file()
    info = json.loads((tmp_path / "eval_info.json").read_text())
    assert info["precision"] == "fp32" and info["precision_requested"] == "fp32" and info["seeds"] == [0]
    assert info["checkpoint_step"] == checkpoint.resolve().parent.name  # what a Hub card matches its step by
    out = capsys.readouterr().out
    assert "| lift " in out and "| tabletop_pick " in out and "average (2 tasks)" in out

    only = run_eval(EvalCommandConfig(policy_path=str(checkpoint), output_dir=str(tmp_path / "one"), device="cpu",
                                      precision="fp32", tasks=("tabletop_pick",),
                                      eval=RolloutConfig(n_episodes=1, n_videos=0, max_steps=1)))
    assert only.n_episodes == 1 and (tmp_path / "one" / "summary.json").is_file()  # one task: the old layout
    with pytest.raises(ValueError, match=r"tasks \['stack'\] are not in"):
        run_eval(EvalCommandConfig(policy_path=str(checkpoint), tasks=("stack",), device="cpu"))


def test_pretrained_factory_builds_an_eval_mode_policy_for_the_env(checkpoint: Path) -> None:
    env = make_env(TASKS["lift"])
    try:
        policy = PretrainedPolicyFactory(str(checkpoint))(env)
    finally:
        env.close()
    assert not policy.training
    assert policy.autocast_dtype == resolve_precision("auto", "cpu").autocast_dtype  # the factory's default: auto
    with pytest.raises(ValueError, match="missing"):
        wrist = make_env(LiftEnvConfig(cameras=("robot0_eye_in_hand",), **COMMON))
        try:
            PretrainedPolicyFactory(str(checkpoint))(wrist)
        finally:
            wrist.close()
