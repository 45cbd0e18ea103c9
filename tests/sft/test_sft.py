"""SFT: assistant-only labels, packing without cross-example attention, plain HF checkpoints.

``make_spatial_samples`` and ``png_bytes`` are the shared fixtures of tests/conftest.py.
"""

import pytest
import torch

from vst_vla.sft.chat import DEFAULT_SYSTEM_PROMPT
from vst_vla.sft.examples import IGNORE_INDEX, SFTDataset, count_sample_tokens, encode_sample
from vst_vla.sft.model import SpatialVLM
from vst_vla.sft.packing import PackedDataset, collate_packs, greedy_packs
from vst_vla.spatial.schema import SpatialSample, Turn
from vst_vla.vlm.backbone import BackboneConfig
from vst_vla.vlm.freeze import FreezeConfig


@pytest.fixture(scope="module")
def vlm() -> SpatialVLM:
    torch.manual_seed(0)
    return SpatialVLM.build(BackboneConfig(image_max_tokens=16))


def test_labels_cover_only_the_assistant_answer(vlm, make_spatial_samples):
    sample = make_spatial_samples(1)[0]
    example = encode_sample(vlm.processor, sample, DEFAULT_SYSTEM_PROMPT)
    labeled = example.labels[example.labels != IGNORE_INDEX]
    assert vlm.processor.tokenizer.decode(labeled) == "0.10 m<|im_end|>"
    assert example.image_grid_thw.shape == (1, 3)


def test_greedy_packs_respect_the_budget():
    packs = greedy_packs([5, 4, 3, 6, 2], max_tokens=8, seed=0)
    assert sorted(i for p in packs for i in p) == [0, 1, 2, 3, 4]
    assert all(sum([5, 4, 3, 6, 2][i] for i in p) <= 8 for p in packs)


def test_packed_loss_equals_separate_losses(vlm, make_spatial_samples):
    """No attention across packed examples: the packed loss is the token-weighted mean of separate losses."""
    examples = [encode_sample(vlm.processor, s, DEFAULT_SYSTEM_PROMPT) for s in make_spatial_samples(3)]
    with torch.no_grad():
        separate = [vlm(collate_packs([[e]]))[0] for e in examples]
        packed, logs = vlm(collate_packs([examples]))
    counts = [int((e.labels != IGNORE_INDEX).sum()) - 0 for e in examples]
    # HF shifts labels by one: every labeled token is predicted, so weights are the label counts.
    expected = sum(loss * n for loss, n in zip(separate, counts)) / sum(counts)
    assert torch.allclose(packed, expected, atol=1e-5)
    assert logs["target_tokens"] == sum(counts)
    # Two packed rows of different lengths (row padding is its own segment) give the same loss.
    with torch.no_grad():
        two_rows, _ = vlm(collate_packs([examples[:2], examples[2:]]))
    assert torch.allclose(two_rows, expected, atol=1e-5)


def test_token_counts_from_image_sizes_match_full_encoding(vlm, tmp_path, make_spatial_samples, png_bytes):
    sizes = [(56, 56), (128, 128), (200, 60), (33, 310)]
    samples = [SpatialSample(f"z{i}", "test", "multi_image", (png_bytes(i, size), png_bytes(i + 1, sizes[i - 1])),
                             (Turn("human", "<image>\nand <image>\nWhich is wider?"), Turn("gpt", "A")),
                             {"answer_kind": "choice", "ground_truth": "A", "skill": "x"})
               for i, size in enumerate(sizes)] + make_spatial_samples(3)
    from vst_vla.vlm.backbone import load_processor

    reloaded = load_processor(vlm.save_pretrained(tmp_path / "m"), image_max_tokens=9)  # a saved processor, too
    for processor in (vlm.processor, reloaded):
        for sample in samples:
            exact = len(encode_sample(processor, sample, DEFAULT_SYSTEM_PROMPT))
            assert count_sample_tokens(processor, sample, DEFAULT_SYSTEM_PROMPT) == exact, sample.id
    dataset = SFTDataset(samples, vlm.processor, DEFAULT_SYSTEM_PROMPT, max_tokens=2048)
    assert dataset.lengths == [len(dataset[i]) for i in range(len(samples))]


def test_packed_dataset_trains(vlm, make_spatial_samples):
    dataset = SFTDataset(make_spatial_samples(4), vlm.processor, DEFAULT_SYSTEM_PROMPT, max_tokens=512)
    packed = PackedDataset(dataset, max_tokens=512, packing=True)
    assert len(packed) < len(dataset)
    batch = packed.collate_fn([packed[0]])
    optimizer = torch.optim.AdamW(vlm.parameters(), lr=1e-3)
    first = vlm(batch)[0]
    for _ in range(5):
        loss, _ = vlm(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first.item()


def test_checkpoint_loads_in_stock_transformers(vlm, tmp_path, make_spatial_samples):
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    path = vlm.save_pretrained(tmp_path / "sft")
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path, local_files_only=True)
    processor = AutoProcessor.from_pretrained(path, local_files_only=True)
    batch = collate_packs([[encode_sample(processor, make_spatial_samples(1)[0], DEFAULT_SYSTEM_PROMPT)]])
    reloaded = SpatialVLM(model, processor)
    with torch.no_grad():
        assert torch.allclose(reloaded(batch)[0], vlm(batch)[0], atol=1e-6)


def test_freezing():
    vlm = SpatialVLM.build(BackboneConfig(), FreezeConfig(vision_tower=True, merger=False, language_model=True))
    trainable = {n for n, p in vlm.named_parameters() if p.requires_grad}
    assert trainable and all(".merger." in n for n in trainable)


def test_data_skills_selects_samples_and_names_missing_ones(make_spatial_samples):
    from vst_vla.config.parse import ConfigError, dataclass_from_dict
    from vst_vla.sft.config import SpatialDataConfig
    from vst_vla.stages.sft import select_skills

    samples = make_spatial_samples(3)
    samples[1].meta_info["skill"] = "left_right"
    cfg = dataclass_from_dict(SpatialDataConfig, {"skills": ["left_right"]})
    assert cfg.skills == ("left_right",)
    assert [s.id for s in select_skills(samples, cfg.skills, "x.parquet")] == ["s1"]
    with pytest.raises(ValueError, match=r"\['camera_motion'\] have no samples in x.parquet"):
        select_skills(samples, ("left_right", "camera_motion"), "x.parquet")
    with pytest.raises(ConfigError, match="data.skills|skills"):
        dataclass_from_dict(SpatialDataConfig, {"skills": "left_right"})


def test_evaluate_command_scores_the_selected_skills(vlm, tmp_path, capsys, make_spatial_samples):
    from vst_vla.spatial.evaluate import main as evaluate_main
    from vst_vla.spatial.formats import write_parquet

    samples = make_spatial_samples(4)
    for s in samples[:2]:
        s.meta_info["skill"] = "left_right"
    data = tmp_path / "eval.parquet"
    write_parquet(samples, data)
    model = vlm.save_pretrained(tmp_path / "model")
    args = ["--model", str(model), "--data", str(data), "--max-new-tokens", "3", "--out", str(tmp_path / "out")]
    summary = evaluate_main([*args, "--skills", "left_right"])
    assert set(summary["after"]) == {"left_right"}
    assert set(summary["ablations"]) == {"blank", "shuffle"} and set(summary["image_gain"]) == {"left_right"}
    assert summary["prior_fit"].startswith("the evaluated file itself (optimistic")
    assert (tmp_path / "out" / "skills.md").is_file() and (tmp_path / "out" / "scores.json").is_file()
    quick = evaluate_main([*args, "--no-ablations", "--prior-data", str(data)])
    assert quick["ablations"] == {} and quick["image_gain"] == {} and quick["prior_fit"].endswith(f"({data})")
    assert "Image ablations were not run." in (tmp_path / "out" / "skills.md").read_text()
    capped = evaluate_main([*args, "--no-ablations", "--max-per-skill", "1"])
    counts = {skill: row["n"] for skill, row in capped["after"].items()}
    assert counts == {"left_right": 1, samples[2].meta_info["skill"]: 1}
    with pytest.raises(SystemExit) as exit_:  # a user error: one line, exit status 2 (tests/test_bad_inputs.py)
        evaluate_main([*args, "--skills", "no_such_skill"])
    assert exit_.value.code == 2 and "no_such_skill" in capsys.readouterr().err
