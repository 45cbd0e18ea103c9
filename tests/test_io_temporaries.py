"""Temporaries of killed writers are recognised and removed; a live writer's and anything else are left alone."""

import os
import subprocess
import sys

from vst_vla.io import atomic_directory, atomic_path, remove_dead_temporaries, temporary_sibling, write_json_atomic


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def as_written_by(path, pid: int):
    """The temporary name ``path`` as if process ``pid`` had made it."""
    return path.with_name(path.name.replace(f".{os.getpid()}@", f".{pid}@", 1))


def test_only_dead_writers_temporaries_are_removed(tmp_path):
    dead = as_written_by(temporary_sibling(tmp_path / "summary.json"), dead_pid())
    dead.write_text("{")  # half a file, as a kill leaves it
    dead_dir = as_written_by(temporary_sibling(tmp_path / "000004"), dead_pid())
    (dead_dir / "pretrained_model").mkdir(parents=True)
    live = temporary_sibling(tmp_path / "episode_0.mp4")  # this process: still writing
    live.write_bytes(b"")
    other = tmp_path / ".notes.tmp"
    other.write_text("not ours")
    assert sorted(remove_dead_temporaries(tmp_path)) == sorted([dead, dead_dir])
    assert live.exists() and other.exists() and not dead.exists() and not dead_dir.exists()
    assert remove_dead_temporaries(tmp_path / "missing") == []


def test_atomic_writes_clear_killed_writers_leftovers(tmp_path):
    leftover = as_written_by(temporary_sibling(tmp_path / "summary.json"), dead_pid())
    leftover.write_text("{")
    write_json_atomic(tmp_path / "summary.json", {"ok": True})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]

    leftover = as_written_by(temporary_sibling(tmp_path / "ckpt", "old"), dead_pid())
    leftover.mkdir()
    with atomic_directory(tmp_path / "ckpt") as tmp:
        (tmp / "a.txt").write_text("1")
    with atomic_directory(tmp_path / "ckpt") as tmp:  # replaces the first: the old copy is moved aside, then deleted
        (tmp / "b.txt").write_text("2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "summary.json"]
    assert [p.name for p in (tmp_path / "ckpt").iterdir()] == ["b.txt"]
    with atomic_path(tmp_path / "x.txt") as tmp:
        assert tmp.name.startswith(".x.txt.") and tmp.name.endswith(".tmp")
        tmp.write_text("x")


def test_safetensors_in_an_atomic_directory_get_the_umask_mode(tmp_path):
    """safetensors >= 0.8 creates its files 0600; a checkpoint's weights must be as readable as its JSON."""
    import torch
    from safetensors.torch import save_file

    mask = os.umask(0o022)
    try:
        with atomic_directory(tmp_path / "ckpt") as tmp:
            save_file({"w": torch.zeros(2)}, str(tmp / "model.safetensors"))
            (tmp / "config.json").write_text("{}")
    finally:
        os.umask(mask)
    mode = lambda name: (tmp_path / "ckpt" / name).stat().st_mode & 0o777  # noqa: E731
    assert mode("model.safetensors") == mode("config.json") == 0o644
