"""Start-up does O(1) full-vocabulary work, not one pass per added token.

A fast tokenizer's ``get_vocab()`` and ``len()`` each rebuild the whole vocabulary map; at Qwen's 151,665 entries
one call costs 0.1-0.4 s, and calling ``get_vocab()`` once per action token made every build and load of a
real-size policy take 40-48 s. These tests count those calls on a real tokenizer and require the count not to
grow with the number of tokens added.
"""

from collections import Counter

import pytest
from transformers.tokenization_utils_tokenizers import TokenizersBackend

from vst_vla.policy.configuration_vst_vla import L1ChunkHeadConfig
from vst_vla.policy.processed import ProcessedPolicy
from vst_vla.vla.action_tokenizer import ActionTokenizer
from vst_vla.vlm.tokenizer import build_offline_tokenizer


@pytest.fixture
def vocab_calls(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Counts calls of the O(vocab) tokenizer methods; the real methods still run."""
    calls: Counter = Counter()
    for name in ("get_vocab", "__len__"):
        original = getattr(TokenizersBackend, name)

        def counting(self, *args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(TokenizersBackend, name, counting)
    return calls


def test_action_tokenizer_build_does_not_scan_the_vocabulary_per_token(vocab_calls: Counter) -> None:
    few, many = build_offline_tokenizer(), build_offline_tokenizer()
    vocab_calls.clear()
    ActionTokenizer(few, n_bins=4)
    with_4 = sum(vocab_calls.values())
    vocab_calls.clear()
    at = ActionTokenizer(many, n_bins=256)
    with_256 = sum(vocab_calls.values())
    assert with_4 == with_256 <= 1
    assert at.token_id_range[1] - at.token_id_range[0] == 256 and len(many) == at.token_id_range[1]
    # Building again over the same tokenizer finds the tokens without adding or scanning.
    vocab_calls.clear()
    assert ActionTokenizer(many, n_bins=256).token_id_range == at.token_id_range
    assert sum(vocab_calls.values()) <= 1


@pytest.mark.parametrize("head", [None, L1ChunkHeadConfig()], ids=["tokens", "l1_chunk"])
def test_policy_build_and_load_make_a_constant_number_of_vocabulary_scans(vocab_calls: Counter, tmp_path,
                                                                           head, make_policy) -> None:
    counts = []
    for chunk in (1, 8):
        vocab_calls.clear()
        policy = make_policy(chunk_size=chunk, n_action_steps=chunk, head=head)
        built = sum(vocab_calls.values())
        path = policy.save_pretrained(tmp_path / f"chunk{chunk}")
        vocab_calls.clear()
        ProcessedPolicy.from_pretrained(path)
        counts.append((built, sum(vocab_calls.values())))
    # 256 action tokens (+ chunk query tokens for l1_chunk) + the state token: still a handful of scans.
    assert counts[0] == counts[1]
    assert all(n <= 3 for n in counts[0]), counts


@pytest.mark.slow
def test_real_size_preset_policy_fits_the_spare_rows_and_round_trips(tmp_path, tiny_stats, make_batch) -> None:
    """The 3B preset (cut to one block each) at the real vocabulary: the action and state tokens take spare
    embedding rows (no resize), and a save/load gives the same actions."""
    import torch

    from vst_vla.policy.configuration_vst_vla import VSTVLAConfig
    from vst_vla.vlm.backbone import BackboneConfig

    torch.manual_seed(0)
    backbone = BackboneConfig(preset="qwen2_5_vl_3b", preset_num_layers=1, preset_vision_depth=1)
    cfg = VSTVLAConfig(backbone=backbone, chunk_size=1, n_action_steps=1, device="cpu").with_features(
        {"observation.images.agentview": (3, 64, 64)}, 7, 9)
    processed = ProcessedPolicy.build(cfg, tiny_stats).eval()
    policy = processed.policy
    start, end = policy.head.action_tokenizer.token_id_range
    assert (start, end) == (151665, 151921) and len(policy.encoder.tokenizer) == 151922
    assert policy.backbone.get_input_embeddings().weight.shape[0] == 151936
    batch = make_batch(1, chunk_size=1)
    before = processed.predict_action_chunk(batch)
    loaded = ProcessedPolicy.from_pretrained(processed.save_pretrained(tmp_path / "ckpt")).eval()
    backbone = loaded.policy.backbone
    assert backbone.lm_head.weight.data_ptr() == backbone.get_input_embeddings().weight.data_ptr()
    assert torch.equal(before, loaded.predict_action_chunk(batch))
