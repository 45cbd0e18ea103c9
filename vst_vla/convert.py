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
from vst_vla.errors import exit_on_user_error
from vst_vla.io import check_writable_destination


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a size in pixels, a count)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        prog="python -m vst_vla.convert",
        description=__doc__.split("\n\n")[0],
        epilog="example:\n"
        "  python -m vst_vla.convert outputs/train/vla_lift/checkpoints/last/pretrained_model outputs/vla_lerobot\n"
        "  lerobot-eval --policy.path=outputs/vla_lerobot ...   # then LeRobot's tools load it",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", type=Path, help="a pretrained_model directory (either layout)")
    parser.add_argument("destination", type=Path, help="where to write the converted checkpoint (must not exist)")
    parser.add_argument("--image-size", type=positive_int, default=None,
                        help="camera resolution for the LeRobot features (default: from the checkpoint's env.json)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    if not args.source.is_dir():
        parser.error(f"source {args.source} is not a directory")
    if args.destination.exists():
        parser.error(f"destination {args.destination} already exists; choose a new directory")
    with exit_on_user_error():
        check_writable_destination(args.destination, "destination")
        from lerobot_policy_vst_vla.conversion import export_to_lerobot, import_from_lerobot, is_lerobot_checkpoint

        if is_lerobot_checkpoint(args.source):
            out = import_from_lerobot(args.source, args.destination)
            logging.info("vst_vla checkpoint written: python -m vst_vla.eval policy_path=%s", out)
        else:
            out = export_to_lerobot(args.source, args.destination, image_size=args.image_size)
            logging.info("LeRobot checkpoint written: lerobot-eval --policy.path=%s ...", out)
    return out


if __name__ == "__main__":
    main()
