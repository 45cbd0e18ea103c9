"""``python -m vst_vla.convert SRC DST``: convert a VLA checkpoint between vst_vla's layout and LeRobot's.

The direction follows from SRC: a ``python -m vst_vla.train`` checkpoint becomes a directory that
``lerobot-eval`` / ``lerobot-rollout --policy.path=DST`` load; a LeRobot one (``lerobot-train``, or a converted
one) becomes vst_vla's layout. Both directions keep the weights and q01/q99 statistics, so actions are identical.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import vst_vla  # noqa: F401  (sets MUJOCO_GL before any simulator import)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m vst_vla.convert", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a pretrained_model directory (either layout)")
    parser.add_argument("destination", type=Path, help="where to write the converted checkpoint (must not exist)")
    parser.add_argument("--image-size", type=int, default=None,
                        help="camera resolution for the LeRobot features (default: from the checkpoint's env.json)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from lerobot_policy_vst_vla.conversion import export_to_lerobot, import_from_lerobot, is_lerobot_checkpoint

    if not args.source.is_dir():
        parser.error(f"source {args.source} is not a directory")
    if args.destination.exists():
        parser.error(f"destination {args.destination} already exists; choose a new directory")
    if is_lerobot_checkpoint(args.source):
        out = import_from_lerobot(args.source, args.destination)
        logging.info("vst_vla checkpoint written: python -m vst_vla.eval policy_path=%s", out)
    else:
        out = export_to_lerobot(args.source, args.destination, image_size=args.image_size)
        logging.info("LeRobot checkpoint written: lerobot-eval --policy.path=%s ...", out)
    return out


if __name__ == "__main__":
    main()
