"""Generate VST-style spatial QA data (VST-P skills) from simulator scenes and write it as VST parquet.

    python -m vst_vla.spatial.generate --num-scenes 20 --seed 0 --out outputs/spatial/train.parquet

Shows a progress bar over scenes, then prints the number of samples per skill and the throughput. See
:mod:`vst_vla.spatial.engine` for the skills and how answers are derived.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from vst_vla.errors import ConfigError, exit_on_user_error
from vst_vla.io import check_writable_destination
from vst_vla.spatial.engine import SKILLS, default_skill_names, iter_scene_samples
from vst_vla.spatial.engine.generator import close_shared_envs
from vst_vla.spatial.engine.scene import FREE_FOVY_DEG
from vst_vla.spatial.formats import write_parquet

logger = logging.getLogger(__name__)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example:\n  python -m vst_vla.spatial.generate --num-scenes 20 --seed 0 "
                                            "--out outputs/spatial/train.parquet",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-scenes", type=int, default=20, help="scenes to generate from (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="scene i is env.reset(seed=seed + i) (default 0)")
    parser.add_argument("--out", type=Path, default=Path("outputs/spatial/train.parquet"), help="output parquet")
    parser.add_argument("--env-type", default="tabletop_pick", help="vst_envs config type (default tabletop_pick)")
    parser.add_argument("--image-size", type=int, default=128, help="square render size in pixels (default 128)")
    parser.add_argument("--skills", nargs="+", default=None, metavar="SKILL",
                        help=f"skills to run (default: the spatial QA mix): {' '.join(default_skill_names())}; "
                             f"by name only: {' '.join(sorted(set(SKILLS.names()) - set(default_skill_names())))}")
    parser.add_argument("--max-per-scene", type=int, default=None, metavar="N",
                        help="questions per skill and scene, overriding each skill's own cap (default: keep them)")
    parser.add_argument("--fovy", type=float, default=FREE_FOVY_DEG, metavar="DEG",
                        help=f"vertical field of view of the skills' free cameras (default {FREE_FOVY_DEG:g}); a "
                             "narrower one zooms in, so objects cover more image tokens")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    """Generate and write the dataset the arguments describe (the shared env stays open); exit status."""
    # Checked before the simulator starts, so a bad --out is not found only after every scene is rendered.
    if args.num_scenes < 1:
        raise ConfigError(f"--num-scenes must be >= 1, got {args.num_scenes}")
    if args.out.is_dir():
        raise ConfigError(f"--out {str(args.out)!r} is a directory; expected a .parquet file path")
    check_writable_destination(args.out, "--out")
    start = time.perf_counter()
    try:
        scenes = iter_scene_samples(args.num_scenes, args.seed, args.env_type, args.image_size, args.skills,
                                    args.max_per_scene, args.fovy)
    except (KeyError, ValueError) as err:  # bad arguments: unknown skill or env type, out-of-range sizes
        print(f"error: {err}", file=sys.stderr)
        return 2
    samples = []
    for _, scene_samples in tqdm(scenes, total=args.num_scenes, desc="scenes", unit="scene"):
        samples.extend(scene_samples)
    elapsed = time.perf_counter() - start
    written = write_parquet(samples, args.out)
    counts = Counter(s.meta_info["skill"] for s in samples)
    kinds = {s.meta_info["skill"]: (s.type, s.meta_info["answer_kind"]) for s in samples}
    print(f"{'skill':28s} {'type':13s} {'answer':7s} samples")
    for name in sorted(counts):
        sample_type, kind = kinds[name]
        print(f"{name:28s} {sample_type:13s} {kind:7s} {counts[name]:7d}")
    missing = sorted(set(args.skills or default_skill_names()) - set(counts))
    if missing:
        print(f"no samples from: {' '.join(missing)}")
    rate = written / elapsed if elapsed > 0 else float("inf")
    print(f"wrote {written} samples from {args.num_scenes} scenes to {args.out} in {elapsed:.1f} s "
          f"({rate:.1f} samples/s, {args.num_scenes / max(elapsed, 1e-9):.2f} scenes/s, env build included)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: parse, generate, write, then close the simulator."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        with exit_on_user_error():
            return run(args)
    finally:
        close_shared_envs()


if __name__ == "__main__":
    sys.exit(main())
