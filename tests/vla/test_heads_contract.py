"""The contract every registered action head meets (tokens, l1_chunk, flow, and any added later)."""

import pytest
import torch

from vst_vla.policy.configuration_vst_vla import ActionHeadConfig, head_names
from vst_vla.policy.processed import ProcessedPolicy


@pytest.fixture(params=head_names())
def head(request):
    """One default config per registered head type."""
    return ActionHeadConfig.get_choice_class(request.param)()


def _predict(policy, batch, seed=0):
    torch.manual_seed(seed)  # the flow head samples its starting noise
    return policy.predict_action_chunk(batch)


def test_forward_backward_learns(head, make_policy, make_batch):
    policy = make_policy(chunk_size=3, n_action_steps=2, head=head)
    batch = make_batch(4, chunk_size=3)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=2e-3)
    torch.manual_seed(0)
    first, _ = policy(batch)
    for _ in range(20):
        loss, _ = policy(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    torch.manual_seed(0)
    assert policy(batch)[0].item() < first.item()
    assert policy.policy.state_injector.proj[0].weight.grad is not None, "the state projection must be trained"


def test_chunk_shape_range_and_queue(head, make_policy, make_batch):
    policy = make_policy(chunk_size=3, n_action_steps=2, head=head)
    batch = make_batch(2, chunk_size=3)
    chunk = _predict(policy, batch)
    assert chunk.shape == (2, 3, 7) and torch.isfinite(chunk).all()
    assert (chunk.abs() <= 1.0 + 1e-6).all()  # stats q01=-1, q99=1
    single = {k: v[:1] for k, v in batch.items()}
    expected = _predict(policy, single, seed=1)[0]
    policy.reset()
    torch.manual_seed(1)
    actions = [policy.select_action(single) for _ in range(2)]
    assert torch.allclose(actions[0][0], expected[0]) and torch.allclose(actions[1][0], expected[1])


def test_save_load_identical_actions(head, tmp_path, make_policy, make_batch):
    policy = make_policy(chunk_size=2, head=head)
    batch = make_batch(2, seed=4)
    before = _predict(policy, batch)
    loaded = ProcessedPolicy.from_pretrained(policy.save_pretrained(tmp_path / "ckpt"))
    assert type(loaded.policy.head) is type(policy.policy.head)
    assert torch.equal(before, _predict(loaded, batch))


def test_padded_steps_do_not_count(head, make_policy, make_batch):
    policy = make_policy(chunk_size=2, head=head)
    batch = make_batch(2, chunk_size=2)
    batch["action_is_pad"] = torch.tensor([[False, True], [False, True]])
    changed = dict(batch, action=batch["action"].clone())
    changed["action"][:, 1] = -changed["action"][:, 1]
    torch.manual_seed(0)
    a = policy(batch)[0]
    torch.manual_seed(0)
    b = policy(changed)[0]
    assert torch.allclose(a, b)


def test_state_enters_the_token_stream(make_policy, make_batch):
    processed = make_policy(chunk_size=2)
    policy = processed.policy
    batch = processed.preprocessor(make_batch(2))
    inputs = policy.encoder.encode(batch)
    assert (inputs["input_ids"] == policy.state_injector.token_id).sum() == 2  # one placeholder per sample
    states = batch["observation.state"]

    def hidden(state):
        with policy.state_injector.feeding(state), torch.no_grad():
            return policy.backbone.model(**inputs).last_hidden_state

    assert torch.equal(hidden(states), hidden(states.clone()))
    assert not torch.allclose(hidden(states), hidden(-states))


def test_temporal_ensembling_averages_overlapping_chunks(make_policy, make_batch):
    # Uniform weights (coeff 0): the action at step 1 is the mean of what the chunks of steps 0 and 1 predicted
    # for it, in normalized space (LeRobot's ACT ensembler), then un-normalized by the post-processor.
    processed = make_policy(chunk_size=3, n_action_steps=1, temporal_ensemble_coeff=0.0)
    policy = processed.policy
    first, second = torch.full((1, 3, 7), 0.2), torch.full((1, 3, 7), 0.6)
    chunks = iter([first, second])
    policy.predict_action_chunk = lambda batch, **kwargs: next(chunks)  # the ensembler is what is tested here
    single = {k: v[:1] for k, v in make_batch(1).items() if k not in ("action", "action_is_pad")}
    processed.reset()
    assert torch.allclose(processed.select_action(single), torch.full((1, 7), 0.2))
    assert torch.allclose(processed.select_action(single), torch.full((1, 7), 0.4))


def test_several_cameras_share_one_prompt(tmp_path, make_policy, make_batch):
    wrist = "observation.images.robot0_eye_in_hand"
    policy = make_policy(chunk_size=2, image_keys=("observation.images.agentview", wrist))
    batch = make_batch(2)
    batch[wrist] = torch.rand(2, 3, 64, 64)
    encoder = policy.policy.encoder
    inputs = encoder.encode(batch)
    assert inputs["image_grid_thw"].shape[0] == 4  # two images per sample
    vision_start = encoder.tokenizer.convert_tokens_to_ids("<|vision_start|>")
    assert ((inputs["input_ids"] == vision_start).sum(-1) == 2).all()
    loss, _ = policy(batch)
    loss.backward()
    assert policy.predict_action_chunk(batch).shape == (2, 2, 7)
    # A changed wrist image changes the model's input, so it can change the action.
    other = dict(batch, **{wrist: torch.zeros(2, 3, 64, 64)})
    assert not torch.equal(encoder.encode(other)["pixel_values"], inputs["pixel_values"])
