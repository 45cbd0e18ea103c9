"""VST schema and formats round trips, FoV arithmetic and metrics, with hand-computed values."""

import io
import json
import math

import pytest
from PIL import Image

from vst_vla.spatial.formats import read_llava_json, read_parquet, read_samples, write_parquet
from vst_vla.spatial.fov import CANONICAL_FOCAL_PX, focal_from_fov, unify_fov
from vst_vla.spatial.metrics import average_precision, evaluate_predictions, mean_relative_accuracy
from vst_vla.spatial.schema import SampleError, SpatialSample, Turn


def _png(color=(255, 0, 0)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buf, format="PNG")
    return buf.getvalue()


def _sample(i: int, n_images: int = 1) -> SpatialSample:
    question = "<image>\n" * n_images + "Which cube is closer to the camera? (A) red (B) green"
    return SpatialSample(f"s{i}", "vst_sim/test", "single_image" if n_images == 1 else "multi_image",
                         tuple(_png((i, 0, 0)) for _ in range(n_images)),
                         (Turn("human", question), Turn("gpt", "(A) red")),
                         {"answer_kind": "choice", "ground_truth": "A", "skill": "depth_order"})


def test_parquet_round_trip_embeds_images(tmp_path):
    samples = [_sample(0), _sample(1, n_images=2)]
    assert write_parquet(samples, tmp_path / "qa.parquet") == 2
    back = list(read_parquet(tmp_path / "qa.parquet"))
    assert back == samples
    assert Image.open(io.BytesIO(back[1].images[1])).size == (8, 6)
    assert not list(tmp_path.glob(".*.tmp"))


def test_parquet_write_is_atomic(tmp_path):
    """A write that fails midway leaves the previous file whole and no temporary beside it."""
    path = tmp_path / "qa.parquet"
    write_parquet([_sample(0)], path)

    def failing():
        yield _sample(1)
        raise RuntimeError("the generator failed")

    with pytest.raises(RuntimeError, match="the generator failed"):
        write_parquet(failing(), path, rows_per_group=1)
    assert list(read_parquet(path)) == [_sample(0)]
    assert [p.name for p in tmp_path.iterdir()] == ["qa.parquet"]


def test_llava_json_reader(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.png").write_bytes(_png())
    entries = [{"id": "x", "image": "imgs/a.png", "conversations": [
        {"from": "human", "value": "<image>\nHow far is the cube (m)?"}, {"from": "gpt", "value": "1.5"}]}]
    (tmp_path / "data.json").write_text(json.dumps(entries))
    (sample,) = list(read_samples(tmp_path / "data.json"))
    assert sample.answer == "1.5" and sample.images[0] == _png() and sample.type == "single_image"
    entries[0]["image"] = "imgs/missing.png"
    (tmp_path / "bad.json").write_text(json.dumps(entries))
    with pytest.raises(FileNotFoundError, match="missing.png"):
        list(read_llava_json(tmp_path / "bad.json"))


def test_schema_errors_name_the_sample():
    with pytest.raises(SampleError, match="sample 'q': 1 '<image>' placeholders but 0 images"):
        SpatialSample("q", "src", "single_image", (), (Turn("human", "<image> hi"), Turn("gpt", "a")))
    with pytest.raises(SampleError, match="turn 1 is from 'human'"):
        SpatialSample("q", "src", "single_image", (), (Turn("human", "a"), Turn("human", "b")))


def test_fov_unification_hand_computed():
    assert CANONICAL_FOCAL_PX == pytest.approx(960 / (2 * math.tan(math.radians(34.58))))
    # A 640x480 image with a 90° horizontal FoV has fx = 320 px.
    fx = focal_from_fov(640, 90.0)
    assert fx == pytest.approx(320.0)
    u = unify_fov(640, 480, fx)
    assert u.hfov_deg == pytest.approx(90.0)
    assert u.vfov_deg == pytest.approx(math.degrees(2 * math.atan(240 / 320)))  # 73.74°
    assert u.scale == pytest.approx(CANONICAL_FOCAL_PX / 320)
    # 640 * 696.32 / 320 = 1392.64
    assert (u.width_px, u.height_px) == (round(640 * u.scale), round(480 * u.scale)) == (1393, 1044)
    assert "90.00 degrees" in u.prompt() and "1393x1044" in u.prompt()
    # An image already at the canonical FoV and width keeps its size.
    assert unify_fov(960, 540, CANONICAL_FOCAL_PX).width_px == 960


def test_mra_hand_computed():
    assert mean_relative_accuracy(2.0, 2.0) == 1.0
    # 10% error is below 1 - θ for θ in {0.50, ..., 0.85} (8 of 10), not for 0.90 or 0.95.
    assert mean_relative_accuracy(2.2, 2.0) == pytest.approx(0.8)
    assert mean_relative_accuracy(3.2, 2.0) == 0.0  # 60% error fails every threshold
    assert mean_relative_accuracy(None, 2.0) == 0.0


def test_average_precision_hand_computed():
    # Two truths; ranked predictions hit, miss, hit: precision 1 at recall 0.5, 2/3 at recall 1.
    assert average_precision([(3, True), (2, False), (1, True)], 2) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_per_skill_table():
    box = [0.0, 0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    shifted = [0.5, 0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    pairs = [
        ({"skill": "depth_order", "answer_kind": "choice", "ground_truth": "B"}, "<think>x</think>(B)"),
        ({"skill": "depth_order", "answer_kind": "choice", "ground_truth": "B"}, "A"),
        ({"skill": "distance", "answer_kind": "number", "ground_truth": 2.0}, "2.2 m"),
        ({"skill": "box3d", "answer_kind": "boxes", "ground_truth": [box]}, json.dumps([{"bbox_3d": shifted}])),
    ]
    table = evaluate_predictions(pairs)
    assert table["depth_order"]["score"] == 0.5 and table["depth_order"]["n"] == 2
    assert table["distance"]["score"] == pytest.approx(0.8)
    assert table["box3d"]["score"] == pytest.approx(1 / 3)  # unit boxes offset by half a side
    assert table["box3d"]["ap@0.25"] == 1.0 and table["box3d"]["ap@0.15"] == 1.0


def test_chance_counts_lettered_options():
    from vst_vla.spatial.report import count_options

    assert count_options("Which? A. The red cube B. The green cube Reply with the letter.") == 2
    assert count_options("Pick one: (A) left (B) right (C) front (D) back") == 4
    assert count_options("How far is it in meters?") == 0
