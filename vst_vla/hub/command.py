"""The exact command behind a run or a dataset, stored beside it so its card can quote it.

Every invocation of ``python -m vst_vla.train`` (a resumed run has several) or ``python -m vst_vla.collect``
appends one JSON line: the command as typed, hydra's parsed overrides, the time and the vst-vla version. Outside
a hydra command line (a test, a notebook calling the library) nothing is recorded and the card says so.
"""

from __future__ import annotations

import json
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

import vst_vla
from vst_vla.training.run_files import COMMANDS_FILE

__all__ = ["COMMANDS_FILE", "DATASET_COMMANDS_FILE", "append_invocation", "read_invocations", "record_invocation"]

DATASET_COMMANDS_FILE = "meta/vst_commands.jsonl"  # in a LeRobot dataset, beside meta/vst_env.json


def current_invocation(module: str) -> dict | None:
    """``{"command", "overrides", "time", "vst_vla_version"}`` of this process's hydra command line, else None.

    Args:
        module: the entry point the user ran, e.g. ``vst_vla.train``.
    """
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    return {"command": shlex.join(["python", "-m", module, *sys.argv[1:]]),
            "overrides": list(HydraConfig.get().overrides.task),
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "vst_vla_version": vst_vla.__version__}


def record_invocation(path: Path, module: str) -> dict | None:
    """Append :func:`current_invocation` to the JSON-lines file ``path``; returns the record (None: not recorded)."""
    record = current_invocation(module)
    if record is not None:
        append_invocation(path, record)
    return record


def append_invocation(path: Path, record: dict) -> None:
    """Append one invocation record (a dict with at least ``command``) as a JSON line."""
    if not isinstance(record.get("command"), str):
        raise ValueError(f"an invocation record needs a 'command' string, got {record!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def read_invocations(path: Path) -> list[dict]:
    """The records of ``path`` in order (empty when the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
