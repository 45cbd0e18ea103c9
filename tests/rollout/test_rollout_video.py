"""write_mp4: H.264/yuv420p output readable back, odd sizes padded, atomic replacement."""

from pathlib import Path

import av
import numpy as np
import pytest

from vst_vla.rollout import video
from vst_vla.rollout.video import write_mp4


def _frames(n: int, height: int, width: int) -> list[np.ndarray]:
    # Flat grey levels survive lossy compression well enough to check order and content.
    return [np.full((height, width, 3), 20 * i, dtype=np.uint8) for i in range(n)]


def _read(path: Path) -> tuple[str, str, list[np.ndarray]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec, pix_fmt = stream.codec_context.name, stream.codec_context.pix_fmt
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    return codec, pix_fmt, frames


def test_round_trip(tmp_path: Path) -> None:
    path = write_mp4(_frames(12, 32, 48), tmp_path / "videos" / "ep.mp4", fps=20)
    assert path == tmp_path / "videos" / "ep.mp4"
    codec, pix_fmt, frames = _read(path)
    assert (codec, pix_fmt) == ("h264", "yuv420p")
    assert len(frames) == 12 and frames[0].shape == (32, 48, 3)
    means = [frame.mean() for frame in frames]
    np.testing.assert_allclose(means, [20 * i for i in range(12)], atol=3)
    assert [p.name for p in path.parent.iterdir()] == ["ep.mp4"]  # no temp file left behind


def test_odd_sizes_are_padded_to_even(tmp_path: Path) -> None:
    frames = _frames(3, 33, 47)
    frames[0][-1, :] = 255  # the last row must survive (padding, not cropping)
    _, _, decoded = _read(write_mp4(frames, tmp_path / "odd.mp4", fps=10))
    assert len(decoded) == 3 and decoded[0].shape == (34, 48, 3)
    assert decoded[0][-2:, :].mean() > 200


def test_array_of_frames_and_fractional_fps(tmp_path: Path) -> None:
    _, _, decoded = _read(write_mp4(np.stack(_frames(5, 16, 16)), tmp_path / "a.mp4", fps=29.97))
    assert len(decoded) == 5


@pytest.mark.parametrize(
    ("frames", "fps", "error", "match"),
    [
        ([], 20, ValueError, "at least one frame"),
        ([np.zeros((8, 8), np.uint8)], 20, ValueError, r"\(H, W, 3\)"),
        ([np.zeros((8, 8, 3), np.float32)], 20, TypeError, "uint8"),
        ([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 6, 3), np.uint8)], 20, ValueError, "frame 1"),
        ([np.zeros((8, 8, 3), np.uint8)], 0, ValueError, "fps"),
    ],
)
def test_bad_input_writes_nothing(tmp_path: Path, frames: list, fps: float, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        write_mp4(frames, tmp_path / "x.mp4", fps=fps)
    assert list(tmp_path.iterdir()) == []


def test_failed_encode_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "ep.mp4"
    path.write_bytes(b"previous video")
    calls = {"n": 0}
    real_pad = video._pad_to_even

    def failing_pad(frame: np.ndarray) -> np.ndarray:  # fails mid-stream, after the container was opened
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("encoder crashed")
        return real_pad(frame)

    monkeypatch.setattr(video, "_pad_to_even", failing_pad)
    with pytest.raises(RuntimeError, match="encoder crashed"):
        write_mp4(_frames(5, 16, 16), path, fps=20)
    assert path.read_bytes() == b"previous video"
    assert [p.name for p in tmp_path.iterdir()] == ["ep.mp4"]
