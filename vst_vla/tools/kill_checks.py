"""What a kill must not break: every result file readable, no temporaries left, the rerun equal to a clean run.

Used by :mod:`vst_vla.tools.chaos` after each SIGKILL (on what the killed run left behind) and after the rerun (on the
final outputs, against an uninterrupted reference run of the same command). Every function returns a list of
problems, each a sentence naming the file; an empty list means the check passed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# Logged values that measure the machine, not the training: they differ between any two runs.
TIMING_KEYS = frozenset({"samples_per_s", "seconds", "phases_s", "created", "time"})


def hidden_paths(root: Path) -> list[Path]:
    """Paths under ``root`` with a hidden component (the project's temporaries all start with a dot)."""
    found = []
    for path in sorted(root.rglob(".*")):
        if not any(part.startswith(".") for part in path.relative_to(root).parent.parts):
            found.append(path)  # the outermost hidden entry only
    return found


def check_files(root: Path, skip_hidden: bool = True) -> list[str]:
    """Open every result file under ``root``: JSON parses, JSONL lines parse and end in a newline, safetensors load,
    parquet reads, mp4 decodes, symlinks resolve. Hidden paths (temporaries in progress) are skipped unless
    ``skip_hidden`` is false, when each one is itself a problem (a leftover)."""
    problems = [] if skip_hidden else [f"leftover temporary {p}" for p in hidden_paths(root)]
    for path in sorted(root.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if path.is_symlink() and not path.exists():
            problems.append(f"dangling symlink {path}")
        elif path.is_file():
            problem = _check_file(path)
            if problem:
                problems.append(f"{path}: {problem}")
    return problems


def _check_file(path: Path) -> str | None:
    """Why ``path`` is unreadable, or None."""
    try:
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".jsonl":
            text = path.read_text()
            if text and not text.endswith("\n"):
                return "last line cut short"
            for line in text.splitlines():
                json.loads(line)
        elif path.suffix == ".safetensors":
            from safetensors.torch import load_file

            load_file(str(path))
        elif path.suffix == ".parquet":
            import pyarrow.parquet as pq

            pq.read_table(path)
        elif path.suffix == ".mp4":
            import av

            with av.open(str(path)) as container:
                if next(container.decode(video=0), None) is None:
                    return "no video frame"
    except Exception as err:  # noqa: BLE001 - any failure to read is the finding, reported with its type
        return f"unreadable ({type(err).__name__}: {err})"
    return None


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= atol + rtol * abs(b)


def compare_values(got: Any, want: Any, where: str, rtol: float, atol: float) -> list[str]:
    """Recursive comparison of JSON values; numbers within tolerance, timing keys ignored."""
    if isinstance(want, Mapping) and isinstance(got, Mapping):
        problems = [f"{where}: keys {sorted(set(got) ^ set(want))} differ"] if set(got) != set(want) else []
        for key in sorted(set(got) & set(want) - TIMING_KEYS):
            problems += compare_values(got[key], want[key], f"{where}.{key}", rtol, atol)
        return problems
    if isinstance(want, list) and isinstance(got, list):
        if len(got) != len(want):
            return [f"{where}: {len(got)} items, the reference has {len(want)}"]
        return [p for i, (g, w) in enumerate(zip(got, want, strict=True))
                for p in compare_values(g, w, f"{where}[{i}]", rtol, atol)]
    numbers = (int, float)
    if isinstance(want, numbers) and isinstance(got, numbers) and not isinstance(want, bool):
        return [] if _close(float(got), float(want), rtol, atol) else [f"{where}: {got!r} != reference {want!r}"]
    return [] if got == want else [f"{where}: {got!r} != reference {want!r}"]


def max_deviation(got: Iterable[dict], want: Iterable[dict]) -> float:
    """Largest absolute difference of a logged loss between two logs (same steps), for the report."""
    want_by_step = {r["step"]: r for r in want}
    diffs = [abs(r["loss"] - want_by_step[r["step"]]["loss"]) for r in got
             if "loss" in r and r["step"] in want_by_step and "loss" in want_by_step[r["step"]]]
    return max(diffs, default=0.0)


def compare_train_logs(run_dir: Path, ref_dir: Path, rtol: float, atol: float) -> list[str]:
    """Each step logged once, the same steps as the reference, every logged value within tolerance."""
    got, want = read_jsonl(run_dir / "train_log.jsonl"), read_jsonl(ref_dir / "train_log.jsonl")
    steps = [r["step"] for r in got]
    if steps != [r["step"] for r in want]:
        return [f"{run_dir / 'train_log.jsonl'} logs steps {steps}, the reference {[r['step'] for r in want]}"]
    return [p for g, w in zip(got, want, strict=True)
            for p in compare_values(g, w, f"train_log step {w['step']}", rtol, atol)]


def compare_tensors(path: Path, ref_path: Path, rtol: float, atol: float, keys: str = "") -> list[str]:
    """The tensors of a safetensors file against the reference's (only names starting with ``keys``)."""
    import torch
    from safetensors.torch import load_file

    got, want = load_file(str(path)), load_file(str(ref_path))
    got, want = ({k: v for k, v in d.items() if k.startswith(keys)} for d in (got, want))
    if set(got) != set(want):
        return [f"{path}: tensor names {sorted(set(got) ^ set(want))} differ from the reference"]
    bad = [k for k in want if got[k].shape != want[k].shape
           or not torch.allclose(got[k].double(), want[k].double(), rtol=rtol, atol=atol)]
    return [f"{path}: {len(bad)} tensors differ from the reference (e.g. {bad[0]})"] if bad else []


# What a checkpoint holds that must be equal after a resume: weights, optimizer moments, the learner's own state,
# and torch's random stream (Python's and NumPy's are saved too, but nothing in training draws from them).
CHECKPOINT_TENSORS = (("pretrained_model/model.safetensors", ""),
                      ("training_state/optimizer_state.safetensors", ""),
                      ("training_state/learner_state.safetensors", ""),
                      ("training_state/rng_state.safetensors", "torch"))


def compare_checkpoints(run_dir: Path, ref_dir: Path, rtol: float, atol: float) -> list[str]:
    """Every checkpoint of the run against the reference's at the same step: same steps, same tensors."""
    steps, ref_steps = (sorted(p.name for p in (d / "checkpoints").iterdir() if p.name.isdigit())
                        for d in (run_dir, ref_dir))
    if steps != ref_steps:
        return [f"{run_dir}/checkpoints holds steps {steps}, the reference {ref_steps}"]
    problems = []
    for step in steps:
        for name, keys in CHECKPOINT_TENSORS:
            got, want = (d / "checkpoints" / step / name for d in (run_dir, ref_dir))
            if want.is_file():
                problems += (compare_tensors(got, want, rtol, atol, keys) if got.is_file()
                             else [f"{got} is missing"])
    return problems


# Columns of a LeRobot data file that place a frame in its dataset rather than describe it.
_POSITION_COLUMNS = frozenset({"episode_index", "index", "task_index"})


def episode_digests(dataset: Path) -> list[str]:
    """One SHA-256 per episode of the LeRobot (v3) dataset at ``dataset``, in episode-index order, over what its
    frames hold: every data column but the positional ones (episode, global and task index), the task string, and
    the decoded pixels of each video. Equal digests mean the same frames, wherever the episode is stored (a
    one-episode dataset or a merged one), so a kept episode can be compared with the same episode later."""
    import hashlib

    import av
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    def table(pattern: str) -> pa.Table:
        return pa.concat_tables([pq.read_table(p) for p in sorted(dataset.glob(pattern))])

    info = json.loads((dataset / "meta" / "info.json").read_text())
    fps = info["fps"]
    video_keys = [k for k, f in info["features"].items() if f["dtype"] == "video"]
    task_table = pq.read_table(dataset / "meta" / "tasks.parquet", columns=["task_index", "task"]).to_pydict()
    tasks = dict(zip(task_table["task_index"], task_table["task"], strict=True))
    episodes = table("meta/episodes/*/*.parquet").to_pylist()
    data = table("data/*/*.parquet").to_pydict()
    decoded: dict[Path, np.ndarray] = {}  # each video file decoded once
    digests = []
    for ep in sorted(episodes, key=lambda e: e["episode_index"]):
        rows = [i for i, e in enumerate(data["episode_index"]) if e == ep["episode_index"]]
        digest = hashlib.sha256()
        for column in sorted(set(data) - _POSITION_COLUMNS):
            digest.update(column.encode() + np.asarray([data[column][i] for i in rows]).tobytes())
        digest.update("\n".join(tasks[data["task_index"][i]] for i in rows).encode())
        for key in video_keys:
            path = dataset / info["video_path"].format(video_key=key, chunk_index=ep[f"videos/{key}/chunk_index"],
                                                       file_index=ep[f"videos/{key}/file_index"])
            if path not in decoded:
                with av.open(str(path)) as container:
                    decoded[path] = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
            first = round(ep[f"videos/{key}/from_timestamp"] * fps)
            digest.update(key.encode() + decoded[path][first : first + len(rows)].tobytes())
        digests.append(digest.hexdigest())
    return digests
