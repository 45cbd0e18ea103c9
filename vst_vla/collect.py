"""Command line: collect scripted-expert demonstrations into a LeRobot dataset.

    python -m vst_vla.collect                                   # 20 Lift episodes -> outputs/datasets/lift
    python -m vst_vla.collect collect.num_episodes=50 env.image_size=96 collect.overwrite=true
    python -m vst_vla.collect env=stack                         # any registered env type (vst_envs.ENVS)

Several tasks into ONE dataset (``collect.num_episodes`` each; every frame keeps its own instruction as the
LeRobot task string):

    python -m vst_vla.collect --config-name collect_multitask   # the preset: lift + tabletop_pick
    python -m vst_vla.collect +tasks=[lift,tabletop_pick] +task_overrides.image_size=64 collect.root=outputs/datasets/mt

A task is a registered env type (its defaults) or an inline env dict; ``task_overrides``
sets fields on every task (``env.*`` overrides do not apply to ``tasks`` and are refused). The tasks must share
cameras, image size, control frequency and state / action layout (:mod:`vst_vla.data.multitask`).

Hydra composes ``configs/collect.yaml`` (env group default: ``lift``, LiftEnvConfig's defaults); this entry point turns
the result into dataclasses and hands them to :func:`vst_vla.data.collect.collect_demos` (or
:func:`~vst_vla.data.collect.collect_multitask_demos`). Hydra keeps the working directory (no ``chdir``), so
relative paths are relative to where you run the command; its own logs go to ``outputs/hydra/collect/<time>``.

A collection that was killed or interrupted keeps its finished episodes in the hidden ``.<name>.collecting`` beside
``collect.root``; the same command run again resumes it, collecting only the missing episodes (other settings are
refused, naming the field; ``collect.overwrite=true`` discards them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import hydra
from omegaconf import DictConfig
from vst_envs.config import env_config_from_dict

from vst_vla.config import HYDRA_CONFIG_DIR
from vst_vla.config.parse import ConfigError, container_from_hydra, dataclass_from_dict
from vst_vla.config.store import register_config_defaults
from vst_vla.data.collect import CollectReport, collect_demos, collect_multitask_demos
from vst_vla.data.config import CollectConfig
from vst_vla.data.multitask import resolve_tasks
from vst_vla.errors import exit_on_user_error
from vst_vla.hub.command import DATASET_COMMANDS_FILE, record_invocation
from vst_vla.hub.config import HubConfig
from vst_vla.hub.push import push_dataset
from vst_vla.hub.reachability import check_can_push


def _command_line_env_overrides() -> list[str]:
    """The ``env...`` overrides given on the command line (empty outside a hydra run)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return [o for o in HydraConfig.get().overrides.task if o.lstrip("+~").split("=")[0].split(".")[0] == "env"]


def run_collect(cfg: dict[str, Any], env_overrides: list[str] | None = None) -> CollectReport:
    """Collect as the resolved config ``cfg`` (``collect``, ``env``, optional ``tasks`` / ``task_overrides``) says.

    With ``hub.push`` the dataset is then published (LeRobot's ``push_to_hub``, with its card); the Hub is checked
    first, before any episode runs. The command line is stored in the dataset's ``meta/vst_commands.jsonl``.

    Args:
        cfg: the composed config as a plain container.
        env_overrides: ``env.*`` command-line overrides, refused together with ``tasks`` (they would be ignored).
    """
    collect_cfg = dataclass_from_dict(CollectConfig, cfg["collect"], "collect.")
    hub = dataclass_from_dict(HubConfig, cfg.get("hub"), "hub.")
    check_can_push(hub)  # an impossible push is refused before any episode runs
    report = _collect_tasks(cfg, collect_cfg, env_overrides)
    record_invocation(report.root / DATASET_COMMANDS_FILE, "vst_vla.collect")
    push_dataset(report.root, hub)
    return report


def _collect_tasks(cfg: dict[str, Any], collect_cfg: CollectConfig, env_overrides: list[str] | None) -> CollectReport:
    """The single ``env`` or the ``tasks`` of ``cfg``, collected into one dataset."""
    tasks = cfg.get("tasks")
    if not tasks:
        with _as_config_error("env"):
            env_cfg = env_config_from_dict(cfg["env"])
        return collect_demos(env_cfg, collect_cfg)
    if env_overrides:
        raise ConfigError(
            f"{env_overrides} change the single-task `env`, which `tasks` does not use; set fields of every task "
            "with task_overrides.<field>=<value> (or +task_overrides.<field>=... when the config has none)"
        )
    with _as_config_error("tasks"):
        env_cfgs = resolve_tasks(tasks, cfg.get("task_overrides") or {})
    return collect_multitask_demos(env_cfgs, collect_cfg)


@contextlib.contextmanager
def _as_config_error(field: str) -> Iterator[None]:
    """The env package's KeyError / TypeError / ValueError for a bad env config, as a ConfigError naming ``field``."""
    try:
        yield
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"{field}: {err.args[0] if isinstance(err, KeyError) and err.args else err}") from err


register_config_defaults()  # before hydra composes: the defaults the YAML files leave out


@hydra.main(config_path=HYDRA_CONFIG_DIR, config_name="collect", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Collect demonstrations as ``cfg`` describes and print a one-paragraph summary."""
    with exit_on_user_error():
        report = run_collect(container_from_hydra(cfg), _command_line_env_overrides())
    tasks = dict.fromkeys(report.episode_tasks)
    per_task = ", ".join(f"{t}: {report.episode_tasks.count(t)}" for t in tasks) if len(tasks) > 1 else ""
    resumed = f", {report.episodes_resumed} of them resumed from an interrupted run" if report.episodes_resumed else ""
    print(
        f"collected {report.episodes_kept} episodes ({report.frames} frames, "
        f"{report.episodes_dropped} failed episodes dropped{resumed}) in {report.seconds:.1f}s"
        + (f"\ntasks: {per_task}" if per_task else "")
        + f"\ndataset: {report.root}\n"
        f"train on it with dataset.root={report.root}"
    )


if __name__ == "__main__":
    main()
