"""The GPU check's code path, smoke-tested on a CPU with the tiny backbone (the real run needs CUDA)."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks import gpu_check
from vst_vla.spatial.formats import write_parquet
from vst_vla.spatial.schema import SpatialSample, Turn


def _png(size: int, seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _samples(n: int) -> list[SpatialSample]:
    """Single-image QA samples of varied lengths, so packing and padding differ."""
    return [SpatialSample(f"s{i}", "test", "single_image", (_png(56 + 28 * (i % 3), i),),
                          (Turn("human", "<image>\n" + "Which object is closer to the camera? " * (1 + i % 4)),
                           Turn("gpt", "the red cube" + " and the plate" * (i % 5))))
            for i in range(n)]


def test_without_cuda_it_refuses_unless_allowed(capsys: pytest.CaptureFixture) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert gpu_check.main(["--out", "unused"]) == 2
    assert "no CUDA device" in capsys.readouterr().err
    assert gpu_check.main(["--allow-cpu"]) == 2  # the 3B model needs --model tiny on a CPU
    assert "--model tiny" in capsys.readouterr().err


def test_peak_table_matches_device_names() -> None:
    assert gpu_check.peak_tflops_for("NVIDIA H200") == gpu_check.peak_tflops_for("NVIDIA H100 80GB HBM3") == 989.0
    assert gpu_check.peak_tflops_for("NVIDIA A100-SXM4-80GB") == 312.0
    assert gpu_check.peak_tflops_for("NVIDIA L40S") == 362.0 and gpu_check.peak_tflops_for("NVIDIA L4") == 121.0
    assert gpu_check.peak_tflops_for("Tesla T4") is None


def test_tiny_run_on_cpu_reports_every_section(tmp_path: Path) -> None:
    data = tmp_path / "sft.parquet"
    write_parquet(_samples(16), data)
    out = tmp_path / "out"
    argv = ["--allow-cpu", "--model", "tiny", "--quick", "--sft-data", str(data), "--out", str(out)]
    assert gpu_check.main(argv) == 0
    report = json.loads((out / "gpu_check.json").read_text())
    rows = report["rows"]
    assert [r["section"] for r in rows] == ["mfu", "train", "sft", "sft"] + ["heads"] * 4
    assert report["meta"]["peak_source"].startswith("measured") and report["meta"]["peak_tflops"] > 0
    mfu = rows[0]
    assert mfu["tokens_per_s"] > 0 and mfu["mfu"] > 0
    assert mfu["tflop_per_step"] == pytest.approx(mfu["tflops"] * mfu["ms_per_step"] / 1000, rel=1e-6)
    padded, packed = rows[2], rows[3]
    assert packed["padding_share"] == 0.0 and padded["padding_share"] > 0
    assert {r["what"] for r in rows[4:]} == {"tokens (chunk 1)", "tokens (chunk 2)", "l1_chunk (chunk 2)",
                                             "flow (chunk 2, 10 steps)"}
    assert all(r["ms_per_action"] > 0 for r in rows[4:])
    assert "## heads" in (out / "gpu_check.md").read_text()
