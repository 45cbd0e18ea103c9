"""Publish a run's final checkpoint or a collected dataset on the Hugging Face Hub, with its card.

Two ways in:

* at the end of a run: ``python -m vst_vla.train ... hub.push=true hub.repo_id=<you>/<name>`` (or
  ``python -m vst_vla.collect ... hub.push=true ...``): the stage checks first that the Hub is usable
  (:func:`~vst_vla.hub.reachability.check_can_push`, before any work) and pushes once its results are written;
* afterwards, for a finished run directory or a dataset root, for example::

      python -m vst_vla.hub.push outputs/train/vla_lift --repo-id <you>/vst_lift_vla [--dry-run]
      python -m vst_vla.hub.push outputs/datasets/lift --repo-id <you>/vst_lift

  ``--dry-run`` builds the payload folder and the card, prints what would be uploaded, and uploads nothing.

Everything up to the upload is local (:mod:`vst_vla.hub.payload`); the upload itself is the last, thin step:
``HfApi.upload_folder`` for a model, LeRobot's own ``LeRobotDataset.push_to_hub`` for a dataset.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from vst_vla.errors import ConfigError, exit_on_user_error
from vst_vla.hub.config import HubConfig, is_hub_repo_id
from vst_vla.hub.payload import HubPayload, build_dataset_payload, build_model_payload, build_payload
from vst_vla.hub.reachability import check_can_push

logger = logging.getLogger(__name__)


# ---- the network steps -----------------------------------------------------------------------------------------


def upload_model_folder(payload: HubPayload, private: bool) -> str:
    """Create the model repository if needed and upload exactly ``payload.files``; returns the repository URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    repo = api.create_repo(payload.repo_id, repo_type="model", private=private, exist_ok=True)
    api.upload_folder(repo_id=payload.repo_id, repo_type="model", folder_path=payload.folder,
                      allow_patterns=list(payload.files), commit_message="Upload vst-vla checkpoint and card")
    return str(repo)


def upload_dataset(payload: HubPayload, private: bool) -> str:
    """LeRobot's own upload of the dataset root, which writes the card from ``payload.card_kwargs``; returns the
    repository URL."""
    from huggingface_hub import constants
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    LeRobotDataset(payload.repo_id, root=payload.folder).push_to_hub(private=private, **payload.card_kwargs)
    return f"{constants.ENDPOINT}/datasets/{payload.repo_id}"


def upload(payload: HubPayload, private: bool) -> str:
    """The upload of a built payload (:func:`upload_model_folder` or :func:`upload_dataset`)."""
    step = upload_dataset if payload.repo_type == "dataset" else upload_model_folder
    url = step(payload, private)
    logger.info("pushed %d files to %s", len(payload.files), url)
    return url


def _upload_after_run(payload: HubPayload, hub: HubConfig, source: Path) -> str:
    try:
        return upload(payload, hub.private)
    except Exception as err:
        # The run itself succeeded; say how to retry the upload alone instead of losing that fact in a traceback.
        raise RuntimeError(f"pushing {source} to {hub.repo_id} failed ({type(err).__name__}: {err}); the files are "
                           f"complete on disk, push them again with `python -m vst_vla.hub.push {source} "
                           f"--repo-id {hub.repo_id}`") from err


# ---- stage hooks -----------------------------------------------------------------------------------------------


def push_run(run_dir: Path, hub: HubConfig) -> str | None:
    """At the end of a training stage: publish the run's final checkpoint when ``hub.push``; returns the URL."""
    if not hub.push:
        return None
    payload = build_model_payload(Path(run_dir), hub.repo_id, hub)  # type: ignore[arg-type]
    return _upload_after_run(payload, hub, Path(run_dir))


def push_dataset(root: Path, hub: HubConfig) -> str | None:
    """At the end of a collection: publish the dataset when ``hub.push``; returns the URL."""
    if not hub.push:
        return None
    payload = build_dataset_payload(Path(root), hub.repo_id, hub)  # type: ignore[arg-type]
    return _upload_after_run(payload, hub, Path(root))


# ---- command line ----------------------------------------------------------------------------------------------


def describe(payload: HubPayload) -> str:
    """What an upload of ``payload`` sends, one file a line with its size."""
    sizes = [(f, (payload.folder / f).stat().st_size) for f in payload.files]
    lines = [f"{payload.repo_type} repository {payload.repo_id}: {len(sizes)} files, "
             f"{sum(s for _, s in sizes) / 1e6:.1f} MB from {payload.folder}"]
    lines += [f"  {size / 1e6:10.3f} MB  {name}" for name, size in sizes]
    if payload.repo_type == "dataset":
        lines.append(f"  (the card, {payload.card_path}, is written by LeRobot's push_to_hub)")
    lines.append(f"card: {payload.card_path}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> HubPayload:
    """``python -m vst_vla.hub.push PATH --repo-id OWNER/NAME [--dry-run]``; a bad input exits with its message."""
    with exit_on_user_error():
        return run_push(argv)


def run_push(argv: list[str] | None = None) -> HubPayload:
    """``python -m vst_vla.hub.push PATH --repo-id OWNER/NAME [--dry-run]``: publish a run or a dataset."""
    parser = argparse.ArgumentParser(prog="python -m vst_vla.hub.push", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path, help="a run directory of `python -m vst_vla.train` or a dataset root")
    parser.add_argument("--repo-id", required=True, help="the Hub repository, <owner>/<name>")
    parser.add_argument("--dry-run", action="store_true", help="build the payload and card, print, upload nothing")
    parser.add_argument("--out", type=Path, default=None, help="where to build the payload folder")
    parser.add_argument("--public", action="store_true", help="create the repository public (default: private)")
    parser.add_argument("--license", default=HubConfig.license, help="licence id for the card (default: %(default)s)")
    parser.add_argument("--base-model", default=None, help="Hub id of the VLM the run started from, for the card")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for flag, value in (("--repo-id", args.repo_id), ("--base-model", args.base_model)):
        if value is not None and not is_hub_repo_id(value):
            raise ConfigError(f"{flag} must read <owner>/<name> (e.g. alice/vst_lift), got {value!r}")
    hub = HubConfig(push=not args.dry_run, repo_id=args.repo_id, private=not args.public, license=args.license,
                    base_model=args.base_model)
    if not args.dry_run:
        check_can_push(hub, action=f"pushing {args.path} to {args.repo_id}",
                       undo="pass --dry-run to build the payload only")
    payload = build_payload(args.path, args.repo_id, hub, args.out)
    print(describe(payload))
    if args.dry_run:
        print("dry run: nothing was uploaded")
    else:
        print(f"pushed: {upload(payload, hub.private)}")
    return payload


if __name__ == "__main__":
    main()
