"""The push payload: the exact files a repository will receive, with its card, built locally and offline.

A model payload is a folder (``<run>/hub_payload`` by default): the checkpoint's files at its root, the run's
small records under ``results/`` and the card as ``README.md``. Files are hard links to the run's (symlinks across
filesystems), so a payload of a multi-gigabyte checkpoint costs no copy. A dataset is uploaded from its own root by
LeRobot's ``push_to_hub``; its payload folder holds only the card for review, and lists the root's files.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from vst_vla.errors import OutputExistsError
from vst_vla.hub.cards import dataset_card, dataset_card_kwargs, model_card
from vst_vla.hub.config import HubConfig
from vst_vla.hub.runs import inspect_dataset, inspect_run, is_dataset_dir

PAYLOAD_DIR = "hub_payload"
RESULTS_DIR = "results"
CARD_FILE = "README.md"
# Marks a folder this module wrote, so rebuilding may replace it (and nothing else). Never uploaded.
_MARKER = ".vst_vla_hub_payload"
# What LeRobot's push_to_hub leaves out of a dataset (with videos pushed), and what upload_folder always skips.
_DATASET_SKIPPED_PREFIXES = ("images/", ".git/", ".cache/")


@dataclass(frozen=True)
class HubPayload:
    """Everything one upload needs; building it touches no network.

    Attributes:
        repo_id: the target repository.
        repo_type: ``model`` or ``dataset``.
        folder: the folder uploaded: the payload folder (model) or the dataset root (dataset).
        files: paths relative to ``folder`` that will be uploaded, sorted (the card included for a model).
        card_path: the card as written locally.
        card_kwargs: dataset only: what LeRobot's ``push_to_hub`` needs to write the same card.
    """

    repo_id: str
    repo_type: str
    folder: Path
    files: tuple[str, ...]
    card_path: Path
    card_kwargs: dict = field(default_factory=dict)


def _fresh_dir(out_dir: Path) -> Path:
    """An empty ``out_dir``; an existing one is replaced only when this module wrote it."""
    if out_dir.exists():
        if not (out_dir / _MARKER).is_file():
            raise OutputExistsError(f"{out_dir} exists and is not a payload folder written by vst_vla.hub; "
                                  "choose a new or empty output folder")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    (out_dir / _MARKER).touch()
    return out_dir


def _link(src: Path, dst: Path) -> None:
    """``dst`` shows ``src``'s bytes without copying them: a hard link, else (another filesystem) a symlink."""
    src = src.resolve()
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        dst.symlink_to(src)


def _files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def build_model_payload(run_dir: Path, repo_id: str, hub: HubConfig, out_dir: Path | None = None) -> HubPayload:
    """Lay out a run's final checkpoint, its records and its card for ``repo_id``.

    Args:
        run_dir: a directory written by ``python -m vst_vla.train`` (any stage).
        repo_id: the model repository.
        hub: licence and base model for the card.
        out_dir: where to build the folder (default ``<run_dir>/hub_payload``; replaced if this module wrote it).
    """
    run = inspect_run(run_dir)
    out = _fresh_dir(Path(out_dir) if out_dir else Path(run_dir) / PAYLOAD_DIR)
    for rel in _files_under(run.checkpoint):
        _link(run.checkpoint / rel, out / rel)
    for path in run.result_files:
        _link(path, out / RESULTS_DIR / path.relative_to(run.run_dir))
    card_path = out / CARD_FILE
    card_path.unlink(missing_ok=True)  # a checkpoint's own README (none today) gives way to the card
    model_card(run, repo_id, hub).save(card_path)
    files = tuple(f for f in _files_under(out) if f != _MARKER)
    return HubPayload(repo_id, "model", out, files, card_path)


def build_dataset_payload(root: Path, repo_id: str, hub: HubConfig, out_dir: Path | None = None) -> HubPayload:
    """The card LeRobot will write for a collected dataset, saved to ``out_dir`` (default
    ``<root>_hub_payload`` beside the dataset, which stays untouched), and the files its push uploads."""
    dataset = inspect_dataset(root)
    out = _fresh_dir(Path(out_dir) if out_dir else Path(root).parent / f"{Path(root).name}_{PAYLOAD_DIR}")
    card_path = out / CARD_FILE
    dataset_card(dataset, repo_id, hub).save(card_path)
    files = tuple(f for f in _files_under(Path(root)) if not f.startswith(_DATASET_SKIPPED_PREFIXES))
    return HubPayload(repo_id, "dataset", Path(root), files, card_path, dataset_card_kwargs(dataset, hub))


def build_payload(path: Path, repo_id: str, hub: HubConfig, out_dir: Path | None = None) -> HubPayload:
    """:func:`build_dataset_payload` for a LeRobot dataset root, :func:`build_model_payload` for a run."""
    builder = build_dataset_payload if is_dataset_dir(path) else build_model_payload
    return builder(Path(path), repo_id, hub, out_dir)
