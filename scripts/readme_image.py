"""The README's picture of the main job: frames of its first evaluation episode and the evaluation's result.

    python scripts/readme_image.py outputs/train/vla_lift --out docs/images/main_job_eval.png

Reads ``<run>/eval/summary.json`` and the first ``episode_<seed>.mp4`` there, and writes one PNG: four frames
spread over the episode, captioned with the seed and step, above the success rate with its 95% Wilson interval.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from vst_vla.io import atomic_path

FRAMES = 4
SCALE = 2  # the eval videos are small (the policy's camera size); nearest-neighbour upscaling keeps them sharp


def episode_frames(video: Path, n: int) -> list[np.ndarray]:
    """``n`` RGB frames spread evenly over ``video``, first and last included."""
    with av.open(str(video)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    if not frames:
        raise SystemExit(f"error: {video} has no frames")
    picks = np.linspace(0, len(frames) - 1, n).round().astype(int)
    return [frames[i] for i in picks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run directory of `python -m vst_vla.train` (stage=vla)")
    parser.add_argument("--out", type=Path, default=Path("docs/images/main_job_eval.png"))
    args = parser.parse_args()
    eval_dir = args.run / "eval"
    summary_file = eval_dir / "summary.json"
    if not summary_file.is_file():
        raise SystemExit(f"error: {summary_file} not found; expected a finished stage=vla run with its evaluation")
    summary = json.loads(summary_file.read_text())
    videos = sorted(eval_dir.glob("episode_*.mp4"), key=lambda p: int(p.stem.split("_")[1]))
    if not videos:
        raise SystemExit(f"error: no episode_<seed>.mp4 in {eval_dir}; the run recorded no video (eval.n_videos=0?)")
    frames = episode_frames(videos[0], FRAMES)
    h, w = frames[0].shape[:2]
    tile_w, tile_h, caption = w * SCALE, h * SCALE, 18
    canvas = Image.new("RGB", (tile_w * FRAMES, tile_h + 2 * caption), "white")
    draw = ImageDraw.Draw(canvas)
    for i, frame in enumerate(frames):
        tile = Image.fromarray(frame).resize((tile_w, tile_h), Image.NEAREST)
        canvas.paste(tile, (i * tile_w, 0))
        draw.text((i * tile_w + 4, tile_h + 2), f"frame {i + 1}/{FRAMES}", fill="black")
    draw.text((4, tile_h + caption + 2), f"{videos[0].stem}; success {summary['successes']}/{summary['n_episodes']}"
              f" = {100 * summary['success_rate']:.0f}%, Wilson 95% CI [{100 * summary['ci_low']:.0f}%, "
              f"{100 * summary['ci_high']:.0f}%]", fill="black")
    with atomic_path(args.out) as tmp:  # written, then renamed: never a half-written PNG
        canvas.save(tmp, format="PNG")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
