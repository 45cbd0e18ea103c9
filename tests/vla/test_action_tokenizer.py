"""Action tokens and q01/q99 normalization: hand-computed values and the round trip of the issue."""

import pytest
import torch

from vst_vla.vla.action_tokenizer import ActionTokenizer, action_token
from vst_vla.vla.normalization import MissingStatsError, check_quantile_stats
from vst_vla.vlm.tokenizer import build_offline_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return build_offline_tokenizer()


def test_bins_hand_computed(tokenizer):
    at = ActionTokenizer(tokenizer, n_bins=256)
    # Bin width is 2/256; -1 opens bin 0, 0 opens bin 128, +1 is clipped into the last bin.
    assert at.to_bins(torch.tensor([-1.0, -0.999, 0.0, 0.5, 1.0])).tolist() == [0, 0, 128, 192, 255]
    assert at.from_bins(torch.tensor([0, 128, 255])).tolist() == pytest.approx([-1 + 1 / 256, 1 / 256, 1 - 1 / 256])


def test_tokens_are_added_not_overwritten():
    tok = build_offline_tokenizer()
    before = dict(tok.get_vocab())
    at = ActionTokenizer(tok, n_bins=256)
    start, end = at.token_id_range
    assert start == len(before) and end == start + 256
    assert all(tok.get_vocab()[k] == v for k, v in before.items())
    # Adding twice reuses the same ids instead of growing the vocabulary again.
    again = ActionTokenizer(tok, n_bins=256)
    assert again.token_id_range == (start, end) and len(tok) == end
    ids = tok(action_token(0) + action_token(255), add_special_tokens=False).input_ids
    assert ids == [start, end - 1]


def _pipelines(q01: list[float], q99: list[float]):
    """The policy's pre/post-processors for an action with these quantiles (the one place that normalizes)."""
    from vst_vla.policy.configuration_vst_vla import VSTVLAConfig
    from vst_vla.policy.processor_vst_vla import make_vst_vla_pre_post_processors

    config = VSTVLAConfig(device="cpu", use_state=False).with_features(
        {"observation.images.agentview": (3, 8, 8)}, len(q01), 0)
    return make_vst_vla_pre_post_processors(config, {"action": {"q01": q01, "q99": q99}})


def _normalize(pre, actions: torch.Tensor) -> torch.Tensor:
    batch = {"observation.images.agentview": torch.zeros(len(actions), 3, 8, 8), "action": actions,
             "task": ["x"] * len(actions)}
    return pre(batch)["action"]


def test_round_trip_within_half_bin_inside_quantiles_and_clipped_outside(tokenizer):
    at = ActionTokenizer(tokenizer, n_bins=256)
    q01 = torch.tensor([-0.5, 0.0, -2.0])
    q99 = torch.tensor([0.5, 4.0, 2.0])
    pre, post = _pipelines(q01.tolist(), q99.tolist())
    generator = torch.Generator().manual_seed(0)
    raw = q01 + (q99 - q01) * torch.rand(2000, 3, generator=generator)
    decoded = post(at.from_token_ids(at.to_token_ids(_normalize(pre, raw))))
    half_bin = (q99 - q01) / 256 / 2
    assert ((decoded - raw).abs() <= half_bin + 1e-6).all()
    outside = torch.tensor([[10.0, -10.0, 3.0]])
    clipped = post(at.from_token_ids(at.to_token_ids(_normalize(pre, outside))))
    expected = torch.tensor([[0.5, 0.0, 2.0]])
    assert ((clipped - expected).abs() <= half_bin + 1e-6).all()


def test_pipelines_hand_computed_and_constant_dims():
    pre, post = _pipelines([0.0, 1.0], [10.0, 1.0])
    assert _normalize(pre, torch.tensor([[2.5, 1.0]])).tolist() == [[-0.5, -1.0]]  # constant: -1, as LeRobot
    assert post(torch.tensor([[0.5, 0.3]])).tolist() == [[7.5, 1.0]]


def test_statistics_check_refuses_missing_or_bad_stats():
    with pytest.raises(MissingStatsError, match="'action' are missing"):
        check_quantile_stats({"observation.state": {"q01": [0], "q99": [1]}}, "action")
    with pytest.raises(MissingStatsError, match=r"lack \['q99'\]"):
        check_quantile_stats({"action": {"q01": [0.0]}}, "action")
    with pytest.raises(MissingStatsError, match="NaN"):
        check_quantile_stats({"action": {"q01": [float("nan")], "q99": [1.0]}}, "action")
    with pytest.raises(MissingStatsError, match="dimension 1 has q01 = 2 > q99 = 1"):
        check_quantile_stats({"action": {"q01": [0.0, 2.0], "q99": [1.0, 1.0]}}, "action")
    with pytest.raises(MissingStatsError, match="have 2 dimensions but the policy's action has 3"):
        check_quantile_stats({"action": {"q01": [0.0, 0.0], "q99": [1.0, 1.0]}}, "action", 3)
