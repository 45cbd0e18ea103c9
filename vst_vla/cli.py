"""``vst-vla <command> [args ...]``: one entry point for every command line of the project.

Each command is a module with its own ``main``; ``vst-vla <command> ARGS`` is ``python -m <module> ARGS``. The
dispatcher imports only the module it runs (``vst-vla --help`` imports no torch and no simulator), and forwards
the remaining arguments unchanged: argparse commands get them as ``main(argv)``, hydra commands (whose
``main`` reads ``sys.argv``) get them through ``sys.argv``.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass

PROG = "vst-vla"


@dataclass(frozen=True)
class Command:
    """A subcommand: the module whose ``main`` it runs, whether that ``main`` is hydra's, and a one-line summary."""

    module: str
    summary: str
    hydra: bool = False


# Insertion order is the order --help lists them in: the robot pipeline, then the VLM's spatial tools.
COMMANDS: dict[str, Command] = {
    "collect": Command("vst_vla.collect", "scripted-expert demonstrations into a LeRobot dataset (hydra)", hydra=True),
    "train": Command("vst_vla.train", "train a stage: the VLA (default), alignment, spatial SFT, CoT, GRPO (hydra)",
                     hydra=True),
    "eval": Command("vst_vla.eval", "seeded rollouts of a saved policy: success rate with 95% CI, videos (hydra)",
                    hydra=True),
    "migrate-checkpoint": Command("vst_vla.migrate_checkpoint", "rewrite an old-layout VLA checkpoint as a policy"),
    "merge-lora": Command("vst_vla.merge_lora", "fold a LoRA run's adapters into a plain checkpoint"),
    "generate": Command("vst_vla.spatial.generate", "generate VST-style spatial QA from simulator scenes (parquet)"),
    "evaluate-spatial": Command("vst_vla.spatial.evaluate", "per-skill spatial accuracy of a VLM on a QA file"),
    "report-spatial": Command("vst_vla.spatial.report", "re-render a spatial stage's per-skill table with the prior"),
    "expert-success": Command("vst_envs.expert_success", "success rate of a task's scripted expert on seeded episodes"),
    "push": Command("vst_vla.hub.push", "push a run's checkpoint or a dataset to the Hugging Face Hub, with its card"),
}


def usage() -> str:
    """The top-level help: every command with its summary and the module it runs."""
    width = max(map(len, COMMANDS))
    lines = [
        f"usage: {PROG} <command> [args ...]",
        "",
        "Visual Spatial Tuning VLM -> robot VLA policies; a command is `python -m <module>` with the same arguments.",
        "",
        "commands:",
        *(f"  {name:<{width}}  {cmd.summary}  [{cmd.module}]" for name, cmd in COMMANDS.items()),
        "",
        f"`{PROG} <command> --help` shows a command's options and an example.",
    ]
    return "\n".join(lines)


def run_command(name: str, args: Sequence[str]) -> int:
    """Run subcommand ``name`` with ``args`` (everything after the command name); returns the exit status.

    A ``main`` that returns an int (an exit status, as ``spatial.generate``'s does) passes it on; any other return
    value (a report, a path) means success. Errors exit the way the command itself exits (argparse: status 2).
    """
    cmd = COMMANDS[name]
    main = importlib.import_module(cmd.module).main
    # argparse takes its default prog from argv[0] (usage lines then read "vst-vla generate ...").
    saved_argv = sys.argv
    sys.argv = [f"{PROG} {name}", *args]
    try:
        result = main() if cmd.hydra else main(list(args))
    finally:
        sys.argv = saved_argv
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The ``vst-vla`` console script: ``argv`` is ``sys.argv[1:]`` when None; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    name, *args = argv
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        print(f"{PROG}: unknown command {name!r}{hint}; commands: {', '.join(COMMANDS)}\n", file=sys.stderr)
        print(usage(), file=sys.stderr)
        return 2
    return run_command(name, args)


if __name__ == "__main__":
    sys.exit(main())
