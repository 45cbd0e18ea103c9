"""``python -m vst_vla.migrate_checkpoint OLD NEW``: rewrite a VLA checkpoint of the old vst_vla layout as a policy.

Before the one-policy change, ``python -m vst_vla.train stage=vla`` wrote its own layout: ``config.json`` (the
old flat policy config with ``image_keys`` / ``action_dim`` / ``state_dim``), ``model.safetensors``,
``backbone_config.json``, ``processor/``, ``normalization_stats.json`` and ``env.json``. The policy's weights
have the same names in both layouts, so migrating keeps every tensor; the statistics move into the processor
pipelines. A one-time migration, kept for checkpoints trained before the change (e.g.
``experiments/one_policy_parity/before``); nothing writes the old layout any more.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from vst_vla.errors import CorruptFileError, MissingInputError, exit_on_user_error
from vst_vla.io import check_safetensors, check_writable_destination

logger = logging.getLogger(__name__)

OLD_STATS_FILE = "normalization_stats.json"
_OLD_FILES = ("config.json", "model.safetensors", "backbone_config.json", OLD_STATS_FILE, "env.json")
# The old config's fields that describe the data rather than the model; they become LeRobot features.
_DATA_FIELDS = ("image_keys", "action_dim", "state_dim", "type")


def migrate_checkpoint(source: str | Path, destination: str | Path) -> Path:
    """Write the old-layout checkpoint ``source`` as a policy directory ``destination`` (atomically)."""
    from safetensors.torch import load_model

    from vst_vla.policy.configuration_vst_vla import policy_config_from_dict
    from vst_vla.policy.processed import ProcessedPolicy

    source, destination = Path(source), Path(destination)
    missing = [name for name in _OLD_FILES if not (source / name).is_file()]
    if missing:
        raise MissingInputError(f"{source} is not an old-layout vst_vla checkpoint: {missing} missing (a checkpoint "
                                "holding policy_preprocessor.json is in the current layout already)")
    check_safetensors(source / "model.safetensors", "copy it again")
    try:
        old = json.loads((source / "config.json").read_text())
        stats = json.loads((source / OLD_STATS_FILE).read_text())
        env_metadata = json.loads((source / "env.json").read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptFileError(f"{source}: a JSON file is unreadable ({err})") from None
    image_size = int((env_metadata.get("env") or {}).get("image_size", 0))
    if image_size < 1:
        raise MissingInputError(f"{source / 'env.json'} has no env.image_size; the camera resolution is needed")
    config = policy_config_from_dict({k: v for k, v in old.items() if k not in _DATA_FIELDS})
    config = config.with_features(dict.fromkeys(old["image_keys"], (3, image_size, image_size)),
                                  int(old["action_dim"]), int(old["state_dim"]) if config.use_state else 0)
    policy = ProcessedPolicy(*_built(config, stats, source), env_metadata)
    # strict: every tensor of the old file lands on a parameter of the same name and shape, none is left unset
    # (safetensors re-ties the tied embeddings it dropped when saving).
    try:
        load_model(policy.policy, str(source / "model.safetensors"), strict=True)
    except RuntimeError as err:
        raise CorruptFileError(f"{source / 'model.safetensors'} does not fit the policy its config describes "
                               f"({err})") from None
    return policy.save_pretrained(destination)


def _built(config, stats: dict, source: Path):
    """The policy rebuilt from ``source``'s architecture files, and its pipelines from ``stats``."""
    from vst_vla.policy.modeling_vst_vla import VSTVLAPolicy
    from vst_vla.policy.processor_vst_vla import make_vst_vla_pre_post_processors

    preprocessor, postprocessor = make_vst_vla_pre_post_processors(config, stats)
    return VSTVLAPolicy(config, checkpoint_dir=source), preprocessor, postprocessor


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        prog="python -m vst_vla.migrate_checkpoint", description=__doc__.split("\n\n")[0],
        epilog="example:\n  python -m vst_vla.migrate_checkpoint experiments/one_policy_parity/before/pretrained_model "
               "outputs/parity_migrated\n  python -m vst_vla.eval policy_path=outputs/parity_migrated",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="an old-layout pretrained_model directory")
    parser.add_argument("destination", type=Path, help="where to write the policy directory (must not exist)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.destination.exists():
        parser.error(f"destination {args.destination} already exists; choose a new directory")
    with exit_on_user_error():
        check_writable_destination(args.destination, "destination")
        out = migrate_checkpoint(args.source, args.destination)
    logger.info("policy written: python -m vst_vla.eval policy_path=%s", out)
    return out


if __name__ == "__main__":
    main()
