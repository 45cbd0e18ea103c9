"""Action safety, property-based: every path from a model to a motor refuses or emits a finite, bounded command.

The paths are the VLA policy between its processor pipelines (``ProcessedPolicy.select_action`` and
``predict_action_chunk``: pre-processor → ``VSTVLAPolicy`` → post-processor, what rollouts, eval and the VLA stage
run), the same pieces held apart as LeRobot's tools hold them (the pre-processor, ``VSTVLAPolicy.
predict_action_chunk`` on the batch it made, the post-processor; and the post-processor alone), and the ``vst_sim``
robot's ``send_action``. Each property holds for every input hypothesis draws: either a clear refusal (the
project's error, naming what was wrong) or an action of the right shape and dtype, finite and inside its bounds;
and an input that is malformed or non-finite is refused, never acted on.

Model outputs are fuzzed by fault injection (the action head's ``predict`` replaced, for one example, by a function
returning the drawn tensor); observations and normalization statistics are fed as drawn. Example counts per
property are in docs/safety.md (``pytest tests/safety --hypothesis-show-statistics``).

Malformed states (non-finite, non-real, wrongly sized) have their own parametrized test, each case named.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tests.safety.shapes import (
    ACTION_DIM,
    CAMERA,
    LEROBOT_CAMERA,
    LEROBOT_DIM,
    STATE_DIM,
)
from vst_vla.vla.errors import InvalidObservationError, UnsafeActionError
from vst_vla.vla.normalization import MissingStatsError, check_quantile_stats


def fuzz(max_examples: int) -> settings:
    """Hypothesis settings of these properties: no deadline (a loaded machine is slow, not wrong), no example
    database (failures print their example), module-scoped fixtures shared by the examples on purpose (see
    conftest; each example restores what it swaps)."""
    return settings(max_examples=max_examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# What a broken model, sensor or statistics file can hand over: NaN, ±inf, huge, tiny and beyond float32.
EXTREMES = [0.0, -0.0, 1.0, -1.0, 1e-30, 1e30, -1e30, 3e38, -3e38, 1e39, -1e300, math.nan, math.inf, -math.inf]
ANY_FLOAT = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(EXTREMES))
# Mostly plausible values, sometimes a fault: examples then exercise both the acting and the refusing branch.
HEAD_VALUE = st.one_of(st.floats(-1.0, 1.0), st.floats(-1.0, 1.0), ANY_FLOAT)
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64]


def as_torch(values: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """float64 ``values`` cast to ``dtype`` as a model would hand them over (float16 turns 1e30 into inf)."""
    with np.errstate(all="ignore"), warnings_ignored():
        return torch.from_numpy(values).to(dtype)


@contextlib.contextmanager
def warnings_ignored() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def is_finite(tensor: torch.Tensor) -> bool:
    """Finite in its own dtype (1e300 in float64 is a finite, if absurd, output: it saturates at the bound)."""
    return bool(torch.isfinite(tensor).all()) if tensor.dtype.is_floating_point else True


@st.composite
def head_outputs(draw, batch_size: int, chunk_size: int, action_dim: int) -> tuple[torch.Tensor, bool]:
    """A raw head output and whether it is well formed ((B, chunk, A), finite in its dtype). One in three is
    faulty (a wrong shape or NaN / inf mixed in); the rest hold values in [-1, 1] or any finite float64, which
    becomes inf when a float16 head casts 1e30."""
    shape = [batch_size, chunk_size, action_dim]
    fault = draw(st.sampled_from(["none", "none", "shape", "values"]) if draw(st.booleans()) else st.just("none"))
    if fault == "shape":
        kind = draw(st.sampled_from(["resized", "extra_dim", "no_batch_dim"]))
        if kind == "resized":
            i = draw(st.integers(0, 2))
            shape[i] = draw(st.integers(0, shape[i] + 2).filter(lambda n, old=shape[i]: n != old))
        elif kind == "extra_dim":
            shape.append(draw(st.integers(1, 2)))
        else:
            shape = shape[1:]
    values = (st.one_of(st.floats(-1.0, 1.0), ANY_FLOAT) if fault == "values"
              else draw(st.sampled_from([st.floats(-1.0, 1.0), st.floats(allow_nan=False, allow_infinity=False)])))
    raw = as_torch(draw(arrays(np.float64, tuple(shape), elements=values)), draw(st.sampled_from(DTYPES)))
    return raw, fault != "shape" and is_finite(raw)


@contextlib.contextmanager
def head_returning(head: torch.nn.Module, outputs: list[torch.Tensor], calls: list[int]) -> Iterator[None]:
    """Fault injection: the head's ``predict`` returns ``outputs`` in turn, recording which one each call got."""
    original = head.predict

    def predict(backbone, inputs):
        calls.append(len(calls))
        return outputs[len(calls) - 1]

    head.predict = predict
    try:
        yield
    finally:
        head.predict = original


def vla_observation(batch_size: int, seed: int = 0) -> dict:
    """A well-formed raw observation of the tiny Lift policy (state in env units, the instruction as ``task``)."""
    g = torch.Generator().manual_seed(seed)
    return {CAMERA: torch.rand(batch_size, 3, 16, 16, generator=g),
            "observation.state": torch.rand(batch_size, STATE_DIM, generator=g) * 2 - 1,
            "task": ["lift the red cube"] * batch_size}


def assert_safe_action(
    action: object, shape: tuple[int, ...], low: torch.Tensor, high: torch.Tensor, atol: float = 0.0
) -> None:
    """A float32 tensor of ``shape`` ((B, A) or (B, chunk, A)), finite, inside [low, high] per action dimension
    (``atol`` for float32 rounding and LeRobot's epsilon)."""
    assert isinstance(action, torch.Tensor), type(action)
    assert tuple(action.shape) == shape, action.shape
    assert action.dtype == torch.float32, action.dtype
    assert torch.isfinite(action).all(), action
    assert (action >= low - atol).all() and (action <= high + atol).all(), (action, low, high)


def as_float32(values: object) -> torch.Tensor:
    """Statistics or bounds (lists, numpy arrays) as the float32 vector the pipelines hold them in."""
    return torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=torch.float32)


def expected_range(stats: dict, bounds=None) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Where an emitted action must lie: the configured bounds, else the statistics' [q01, q99] (float32, plus
    LeRobot's epsilon: it un-normalizes a constant dimension to q01 + (y + 1) * 1e-8 / 2)."""
    if bounds is not None:
        return as_float32(bounds[0]), as_float32(bounds[1]), 0.0
    q01, q99 = as_float32(stats["action"]["q01"]), as_float32(stats["action"]["q99"])
    # float32 rounding of the affine map, relative to the size of the values involved.
    atol = 1e-8 + 1e-6 * float(torch.maximum(q01.abs(), q99.abs()).max())
    return q01, q99, atol


def pipeline_stats(policy) -> dict:
    """The statistics a ``ProcessedPolicy``'s post-processor un-normalizes with (read from the pipeline itself,
    not from a copy of what it was built with)."""
    from lerobot.processor import UnnormalizerProcessorStep

    return next(step for step in policy.postprocessor.steps if isinstance(step, UnnormalizerProcessorStep)).stats


# ---- ProcessedPolicy.select_action: the head's output through the queue or the ensembler -------------------------


@st.composite
def vla_runs(draw):
    """A policy shape (queue or temporal ensembling, any coefficient) and the head outputs of a few steps."""
    chunk_size = draw(st.integers(1, 4))
    if draw(st.booleans()):
        n_action_steps, coeff = draw(st.integers(1, chunk_size)), None
    else:
        n_action_steps = 1
        # One in ten coefficients is NaN or inf; the rest weight chunks old-first or new-first, some beyond what
        # float32 holds (|coeff| * (chunk_size - 1) > 80): both are config errors.
        coeff = draw(st.sampled_from([math.nan, math.inf, -math.inf]) if draw(st.integers(0, 9)) == 0
                     else st.floats(-200, 200) | st.sampled_from([-200.0, -60.0, -0.01, 0.0, 0.01, 60.0, 200.0]))
    batch_size, steps = draw(st.integers(1, 2)), draw(st.integers(1, 4))
    outputs = [draw(head_outputs(batch_size, chunk_size, ACTION_DIM)) for _ in range(steps)]
    return chunk_size, n_action_steps, coeff, batch_size, outputs


def ensembling_overflows(coeff: float | None, chunk_size: int) -> bool:
    """Whether ACT's ensembling weights exp(-coeff * i), i < chunk_size, leave what float32 holds (or are NaN)."""
    return coeff is not None and not (math.isfinite(coeff) and abs(coeff) * (chunk_size - 1) <= 80)


@fuzz(150)
@given(run=vla_runs())
def test_vla_select_action_refuses_or_emits_bounded_actions(build_vla_policy, run) -> None:
    """Whatever the head returns, ProcessedPolicy.select_action emits (B, A) float32 in [q01, q99] or raises
    UnsafeActionError; a wrongly shaped or non-finite head output is always refused. An ensembling coefficient
    whose weights would overflow float32 (NaN, inf, |coeff| * (chunk_size - 1) > 80) is a config error: LeRobot's
    ACTTemporalEnsembler does not rescale its weights, and inf / inf would average to NaN actions."""
    chunk_size, n_action_steps, coeff, batch_size, outputs = run
    if ensembling_overflows(coeff, chunk_size):
        with pytest.raises(ValueError, match="temporal_ensemble_coeff"):
            build_vla_policy(chunk_size, n_action_steps, coeff)
        event("refused: temporal_ensemble_coeff " + ("not finite" if not math.isfinite(coeff) else "too large"))
        return
    policy = build_vla_policy(chunk_size, n_action_steps, coeff)
    low, high, atol = expected_range(pipeline_stats(policy))
    calls: list[int] = []
    with head_returning(policy.policy.head, [raw for raw, _ in outputs], calls):
        for _ in outputs:
            before = len(calls)
            try:
                action = policy.select_action(vla_observation(batch_size))
            except UnsafeActionError:
                assert len(calls) > before and not outputs[calls[-1]][1], "refused a well-formed head output"
                event("refused: UnsafeActionError")
                return  # the policy stopped acting; a caller would reset it
            if len(calls) > before:
                assert outputs[calls[-1]][1], f"acted on a malformed head output {outputs[calls[-1]][0]}"
            assert_safe_action(action, (batch_size, ACTION_DIM), low, high, atol)
    event("acted on every step" + (", ensembling" if coeff is not None else ""))


# ---- normalization statistics (what the pipelines are built with) -------------------------------------------------

STAT_FAULTS = ["inverted", "inverted", "nan", "inf", "float32_overflow", "huge_range"]


@st.composite
def quantiles(draw, dim: int, faulty: bool) -> tuple[list[float], list[float], dict[int, str]]:
    """q01/q99 of ``dim`` dimensions, normal ranges or constant; with ``faulty``, one or two dimensions get a fault
    (inverted, NaN, inf, beyond float32, a range beyond float32). Returns the faults by dimension."""
    kinds = [draw(st.sampled_from(["range", "range", "constant"])) for _ in range(dim)]
    if faulty:
        for i in draw(st.lists(st.integers(0, dim - 1), min_size=1, max_size=2, unique=True)):
            kinds[i] = draw(st.sampled_from(STAT_FAULTS))
    q01, q99, faults = [], [], {}
    for i, kind in enumerate(kinds):
        low = draw(st.floats(-1e3, 1e3))
        high = low + draw(st.floats(1e-3, 1e3))
        if kind == "constant":
            high = low
        elif kind == "inverted":
            low, high = high, low
        elif kind == "nan":
            low = math.nan
        elif kind == "inf":
            high = math.inf
        elif kind == "float32_overflow":
            high = 1e39  # finite in the dataset's float64 statistics, inf once the pipelines hold it in float32
        elif kind == "huge_range":
            low, high = -3e38, 3e38  # each fits float32, their difference does not
        if kind not in ("range", "constant"):
            faults[i] = kind
        q01.append(low)
        q99.append(high)
    return q01, q99, faults


@st.composite
def dataset_stats(draw):
    """A dataset's statistics for action and state (``meta/stats.json`` as lists); sometimes the action has a
    dimension too many or few."""
    action_dim = draw(st.sampled_from([ACTION_DIM] * 6 + [ACTION_DIM - 1, ACTION_DIM + 1]))
    faulty = draw(st.sampled_from(["none", "none", "action", "state"]))
    a01, a99, action_faults = draw(quantiles(action_dim, faulty == "action"))
    s01, s99, state_faults = draw(quantiles(STATE_DIM, faulty == "state"))
    stats = {"action": {"q01": a01, "q99": a99}, "observation.state": {"q01": s01, "q99": s99}}
    faults = {("action", i): k for i, k in action_faults.items()} | {
        ("observation.state", i): k for i, k in state_faults.items()}
    return stats, faults, action_dim


def names(message: str, key: str, dim: int) -> bool:
    """Whether a refusal names the statistics key and the dimension (``dimension 3`` or ``q01[3]``)."""
    return (f"'{key}'" in message or f"{key}." in message) and (f"dimension {dim} " in message or f"[{dim}]" in message)


@fuzz(150)
@given(drawn=dataset_stats(), head=head_outputs(1, 2, ACTION_DIM))
def test_vla_statistics_refused_at_build_or_actions_stay_in_range(vla_policy, drawn, head) -> None:
    """Building the pipelines (what ProcessedPolicy.build, the VLA stage and lerobot-train do, through
    check_quantile_stats) refuses NaN, inf, inverted (q01 > q99) and float32-overflowing dimensions, naming the key
    and the dimension, and a wrong action size, naming the key; LeRobot's normalizer would divide by them without a
    word. With accepted statistics (constant dimensions included) every action of ProcessedPolicy.
    predict_action_chunk lies inside [q01, q99], a constant dimension at its constant (within LeRobot's epsilon)."""
    from vst_vla.policy.processed import ProcessedPolicy
    from vst_vla.policy.processor_vst_vla import make_vst_vla_pre_post_processors

    stats, faults, action_dim = drawn
    if faults or action_dim != ACTION_DIM:
        with pytest.raises(MissingStatsError) as refusal:
            make_vst_vla_pre_post_processors(vla_policy.config, stats)
        message = str(refusal.value)
        if action_dim != ACTION_DIM and "dimensions but the policy's action has" in message:
            assert "'action'" in message, message
            event("refused at build: action dimensions")
            return
        assert any(names(message, key, i) for key, i in faults), message
        event("refused at build: " + "+".join(sorted(set(faults.values()))))
        return
    low, high = check_quantile_stats(stats, "action", ACTION_DIM)
    assert torch.equal(low, as_float32(stats["action"]["q01"])), low
    assert torch.equal(high, as_float32(stats["action"]["q99"])), high
    _, _, atol = expected_range(stats)
    # The module's one model between pipelines built from the drawn statistics: the model itself never sees
    # statistics, so swapping the pipelines is all a new dataset changes.
    policy = ProcessedPolicy(vla_policy.policy, *make_vst_vla_pre_post_processors(vla_policy.config, stats))
    raw, well_formed = head
    calls: list[int] = []
    with head_returning(vla_policy.policy.head, [raw], calls):
        try:
            actions = policy.predict_action_chunk(vla_observation(1))
        except UnsafeActionError:
            assert not well_formed, "refused a well-formed head output"
            event("built, refused: UnsafeActionError")
            return
    assert well_formed, f"acted on a malformed head output {raw}"
    assert_safe_action(actions, (1, 2, ACTION_DIM), low, high, atol)
    constant = low == high
    event("built, acted" + (" (constant dimensions)" if bool(constant.any()) else ""))
    assert ((actions[..., constant] - low[constant]).abs() <= atol).all(), "a constant dimension must stay at its value"


# ---- observations into ProcessedPolicy.select_action (the real tiny model, nothing replaced) ---------------------


# Faults in the state's size (one dimension short or long) or dtype (bool, complex) and ±inf readings have their own
# test below (test_pre_processor_refuses_malformed_state), which names each case.
OBSERVATION_FAULTS = ["image_shape", "image_dtype", "image_values", "state_shape", "state_values", "task"]


@st.composite
def observations(draw, fault: str):
    """A raw batch with every key present: well formed (``fault="none"``), or with the fault named in the images,
    the state or the task. Returns the batch, whether it is well formed, and its batch size.

    LeRobot's pre-processor adds the batch dimension to an unbatched observation (one (3, H, W) image, one
    (state_dim,) state), so with one task string a missing batch dimension is well formed; with two, the sizes
    disagree and it is refused.
    """
    batch_size = draw(st.integers(1, 2))
    unbatched = False

    image_shape = [batch_size, 3, draw(st.integers(1, 12)), draw(st.integers(1, 12))]
    if fault == "image_shape":
        change = draw(st.sampled_from(["batch", "channels", "no_batch_dim", "channel_last", "empty"]))
        if change == "batch":
            image_shape[0] = batch_size + 1
        elif change == "channels":
            image_shape[1] = draw(st.sampled_from([1, 4]))
        elif change == "no_batch_dim":
            image_shape, unbatched = image_shape[1:], True
        elif change == "channel_last":
            # (B, H, W, 3) with H = 3 would also be a (B, 3, H', W') image: which layout it is cannot be seen.
            image_shape = [batch_size, draw(st.sampled_from([1, 2, 4, 16])), image_shape[3], 3]
        else:
            image_shape[draw(st.integers(2, 3))] = 0
    image_dtype = draw(st.sampled_from([torch.int32, torch.int64, torch.bool, torch.int8] if fault == "image_dtype"
                                       else [torch.float32, torch.float32, torch.uint8, torch.float64, torch.bfloat16]))
    if fault == "image_values" and image_dtype.is_floating_point:
        pixel = st.one_of(st.floats(0, 1), st.sampled_from([math.nan, math.inf, -math.inf]))
    else:
        pixel = st.floats(0, 1) if image_dtype.is_floating_point else st.integers(0, 255).map(float)
    image = as_torch(draw(arrays(np.float64, tuple(image_shape), elements=pixel)), image_dtype)

    state_shape = (batch_size, STATE_DIM)
    if fault == "state_shape":
        state_shape = draw(st.sampled_from([(STATE_DIM,), (batch_size + 1, STATE_DIM), (batch_size, 1, STATE_DIM)]))
        unbatched = state_shape == (STATE_DIM,)
    state_dtype = draw(st.sampled_from([torch.float32, torch.float32, torch.float64, torch.float16, torch.int64]))
    reading = st.floats(-5, 5) if state_dtype.is_floating_point else st.integers(-5, 5).map(float)
    if fault == "state_values":
        reading = st.one_of(st.floats(-5, 5), st.just(math.nan))
    state = as_torch(draw(arrays(np.float64, state_shape, elements=reading)), state_dtype)

    tasks: object = draw(st.sampled_from([["lift the red cube"] * batch_size] + (["lift the red cube"]
                                                                                  if batch_size == 1 else [])))
    if fault == "task":
        tasks = draw(st.sampled_from([["lift"] * (batch_size + 1), [7] * batch_size, [], None]
                                     + (["lift the red cube"] if batch_size > 1 else [])))
    # A value fault is a fault only if a NaN / inf was drawn (the elements may all have come out finite).
    valid = (fault == "none" or (unbatched and batch_size == 1)
             or (fault in ("image_values", "state_values") and is_finite(image) and is_finite(state)))
    return {CAMERA: image, "observation.state": state, "task": tasks}, valid, batch_size


# One run per fault kind, so each is exercised every time (hypothesis's own choice among them is uneven).
@pytest.mark.parametrize("fault", ["none", *OBSERVATION_FAULTS])
@fuzz(40)
@given(data=st.data())
def test_vla_observations_refused_or_acted_on_safely(vla_policy, fault, data) -> None:
    """A well-formed observation gets a (B, A) float32 action in [q01, q99] from ProcessedPolicy.select_action; a
    malformed or non-finite one (wrong shape or dtype, NaN / inf pixels, a NaN state, task strings not matching
    the batch) is refused by InvalidObservationError naming its key, whether the pre-processor's prompt step or the
    policy's own check refuses it."""
    batch, valid, batch_size = data.draw(observations(fault))
    low, high, atol = expected_range(pipeline_stats(vla_policy))
    vla_policy.reset()
    try:
        action = vla_policy.select_action(batch)
    except InvalidObservationError as refusal:
        assert not valid, f"refused a well-formed observation: {refusal}"
        assert any(f"'{key}'" in str(refusal) for key in batch), str(refusal)
        event("refused: InvalidObservationError")
        return
    assert valid, "acted on a malformed observation"
    assert_safe_action(action, (batch_size, ACTION_DIM), low, high, atol)
    event("acted")


# LeRobot's normalizer would read the state before VSTVLAPolicy's check_batch does, and the clip step would hide what
# it did: an inf reading normalized to inf and clipped to ±1 (an ordinary-looking, full-scale state), a complex
# state without its imaginary part, a bool state or one of the wrong size failing inside torch, naming no key. The
# pre-processor's input check (VSTVLAInputCheckProcessorStep) runs first.


def _with_inf(value: float) -> torch.Tensor:
    """A plausible (1, state_dim) state with one broken sensor among working ones."""
    state = torch.rand(1, STATE_DIM, generator=torch.Generator().manual_seed(0)) * 2 - 1
    state[0, 3] = value
    return state


@pytest.mark.parametrize("state", [
    pytest.param(_with_inf(math.inf), id="inf"),
    pytest.param(_with_inf(-math.inf), id="-inf"),
    pytest.param(torch.zeros(1, STATE_DIM, dtype=torch.complex64), id="complex64"),
    pytest.param(torch.zeros(1, STATE_DIM, dtype=torch.bool), id="bool"),
    pytest.param(torch.zeros(1, STATE_DIM - 1), id="one-dimension-short"),
    pytest.param(torch.zeros(1, STATE_DIM + 1), id="one-dimension-long"),
])
def test_pre_processor_refuses_malformed_state(vla_policy, state) -> None:
    """A non-finite, non-real or wrongly sized state is refused by InvalidObservationError naming
    'observation.state', as every other malformed observation is: it must not become an action, nor a library
    error that names no key."""
    vla_policy.reset()
    with pytest.raises(InvalidObservationError, match="'observation.state'"):
        vla_policy.select_action({**vla_observation(1), "observation.state": state})


def test_loading_refuses_inverted_statistics(vla_policy, tmp_path) -> None:
    """A checkpoint whose saved statistics are inverted (q01 > q99: swapped quantiles, a hand-edited or mixed-up
    file) is refused when loaded, naming the key and the dimension, as building the pipelines refuses them; loaded
    as they are, they flip the sign of every action and still land inside [q99, q01], so nothing later refuses."""
    from safetensors.torch import load_file, save_file

    from vst_vla.policy.processed import ProcessedPolicy

    directory = vla_policy.save_pretrained(tmp_path / "policy")
    stat_files = sorted(directory.glob("policy_*processor_step_*.safetensors"))
    assert len(stat_files) == 2, stat_files  # the normalizer's and the unnormalizer's
    for path in stat_files:
        tensors = load_file(path)
        tensors["action.q01"], tensors["action.q99"] = tensors["action.q99"], tensors["action.q01"]
        save_file(tensors, str(path))
    with pytest.raises(MissingStatsError, match=r"'action'.*dimension 0 "):
        ProcessedPolicy.from_pretrained(directory)


# ---- LeRobot's way: pre-processor → VSTVLAPolicy.predict_action_chunk → post-processor --------------------------


@st.composite
def lerobot_stats(draw, may_be_faulty: bool = True):
    """LeRobot dataset statistics (numpy arrays, as ``meta.stats`` holds them) and their faults."""
    faulty = draw(st.sampled_from(["none", "none", "none", "action", "state"])) if may_be_faulty else "none"
    a01, a99, action_faults = draw(quantiles(LEROBOT_DIM, faulty == "action"))
    s01, s99, state_faults = draw(quantiles(LEROBOT_DIM, faulty == "state"))
    stats = {"action": {"q01": np.array(a01), "q99": np.array(a99)},
             "observation.state": {"q01": np.array(s01), "q99": np.array(s99)}}
    faults = {("action", i): k for i, k in action_faults.items()} | {
        ("observation.state", i): k for i, k in state_faults.items()}
    return stats, faults


@st.composite
def action_bounds(draw):
    if draw(st.booleans()):
        return None
    a = draw(arrays(np.float64, LEROBOT_DIM, elements=st.floats(-1e3, 1e3)))
    b = draw(arrays(np.float64, LEROBOT_DIM, elements=st.floats(-1e3, 1e3)))
    return np.minimum(a, b).tolist(), np.maximum(a, b).tolist()


def make_pipelines(lerobot_config, stats: dict, bounds):
    """The SO-101-like arm's (pre, post) pipelines from ``stats`` and optional ``(low, high)`` action bounds."""
    from vst_vla.policy.processor_vst_vla import make_vst_vla_pre_post_processors

    bounds_fields = {} if bounds is None else {"action_bounds_low": bounds[0], "action_bounds_high": bounds[1]}
    cfg = lerobot_config(**bounds_fields)
    return make_vst_vla_pre_post_processors(cfg, dataset_stats=stats)


# Raw readings as a sensor hands them over, NaN and values past float32 included (±inf is refused by the
# pre-processor's input check: test_pre_processor_refuses_malformed_state).
STATE_READING = st.one_of(st.floats(-1e3, 1e3), st.floats(allow_infinity=False, width=32),
                          st.sampled_from([v for v in EXTREMES if math.isnan(v) or abs(v) <= 3e38]))


@fuzz(150)
@given(drawn=lerobot_stats(), bounds=action_bounds(), head=head_outputs(1, 2, LEROBOT_DIM),
       state=arrays(np.float64, LEROBOT_DIM, elements=STATE_READING))
def test_lerobot_pipeline_refuses_or_emits_bounded_actions(lerobot_policy, lerobot_config, drawn, bounds, head,
                                                           state) -> None:
    """Building the processors refuses bad statistics naming key and dimension; then pre → predict_action_chunk
    gives a (1, chunk, A) float32 chunk in [-1, 1] and → post a (1, chunk, A) float32 chunk inside the configured
    bounds (else inside [q01, q99]), or refuses: a NaN state as InvalidObservationError (from the pre-processor's
    input check), a malformed head output
    as UnsafeActionError. A finite reading beyond the statistics (even one whose normalization overflows float32)
    is clipped to the edge of the range, as the demonstrations' outliers were."""
    stats, faults = drawn
    if faults:
        with pytest.raises(MissingStatsError) as refusal:
            make_pipelines(lerobot_config, stats, bounds)
        message = str(refusal.value)
        assert any(names(message, key, i) for key, i in faults), message
        event("refused at build: " + "+".join(sorted(set(faults.values()))))
        return
    pre, post = make_pipelines(lerobot_config, stats, bounds)
    low, high, atol = expected_range(stats, bounds)
    observation = {LEROBOT_CAMERA: torch.rand(3, 32, 32), "observation.state": torch.from_numpy(state).float(),
                   "task": "pick up the cube"}
    state_nan = bool(np.isnan(state).any())
    raw, well_formed = head
    calls: list[int] = []
    with head_returning(lerobot_policy.head, [raw], calls):
        try:  # the pre-processor's input check refuses a NaN state, before the policy's own check would
            normalized = lerobot_policy.predict_action_chunk(pre(observation))
        except InvalidObservationError as refusal:
            assert state_nan and "observation.state" in str(refusal), str(refusal)
            event("refused: InvalidObservationError")
            return
        except UnsafeActionError:
            assert not well_formed, "refused a well-formed head output"
            event("refused: UnsafeActionError")
            return
    assert not state_nan, "acted on a NaN state"
    assert well_formed, f"acted on a malformed head output {raw}"
    chunk = (1, 2, LEROBOT_DIM)
    assert_safe_action(normalized, chunk, -torch.ones(LEROBOT_DIM), torch.ones(LEROBOT_DIM))
    assert_safe_action(post(normalized), chunk, low, high, atol)
    event("acted, " + ("clipped to the configured bounds" if bounds else "inside [q01, q99]"))


@st.composite
def post_processor_inputs(draw):
    """Any tensor handed to the post-processor: shapes around (B, A), five dtypes, any values."""
    shape = draw(st.sampled_from([(1, LEROBOT_DIM)] * 3 + [(2, LEROBOT_DIM), (LEROBOT_DIM,), (1, LEROBOT_DIM - 1),
                                  (1, LEROBOT_DIM + 1), (1,), ()]))
    return as_torch(draw(arrays(np.float64, shape, elements=st.one_of(st.floats(-1, 1), ANY_FLOAT))),
                    draw(st.sampled_from(DTYPES + [torch.bool])))


@fuzz(200)
@given(drawn=lerobot_stats(may_be_faulty=False), bounds=action_bounds(), action=post_processor_inputs())
def test_lerobot_post_processor_refuses_or_bounds_any_action(lerobot_config, drawn, bounds, action) -> None:
    """The post-processor alone, fed any tensor: NaN, inf, a wrong action size or a bool tensor are refused by
    UnsafeActionError; anything else comes out float32, finite and inside the bounds (else [q01, q99])."""
    stats, _ = drawn
    _, post = make_pipelines(lerobot_config, stats, bounds)
    low, high, atol = expected_range(stats, bounds)
    malformed = action.ndim == 0 or action.shape[-1] != LEROBOT_DIM or action.dtype == torch.bool
    try:
        out = post(action)
    except UnsafeActionError:
        assert malformed or not is_finite(action), "refused a well-formed action"
        event("refused: UnsafeActionError")
        return
    assert not malformed and is_finite(action), f"passed on {action}"
    rows = out.reshape(-1, LEROBOT_DIM)
    assert_safe_action(rows, (rows.shape[0], LEROBOT_DIM), low, high, atol)
    event("passed on, " + ("clipped to the configured bounds" if bounds else "inside [q01, q99]"))


# ---- the pipelines' normalize → clip → un-normalize, constant dimensions included --------------------------------


@fuzz(100)
@given(drawn=quantiles(LEROBOT_DIM, faulty=False), x=arrays(np.float64, LEROBOT_DIM, elements=st.floats(-1e4, 1e4)),
       y=arrays(np.float64, LEROBOT_DIM, elements=st.floats(-1, 1)))
def test_pipelines_normalize_into_and_unnormalize_inside_the_quantile_range(lerobot_config, drawn, x, y) -> None:
    """LeRobot's QUANTILES formula, clipped to [-1, 1] on both sides (vst_vla's own normalizer is gone). The
    pre-processor maps any state or action into [-1, 1]: at or below q01 to -1, at or above q99 to 1, so a
    constant dimension (q01 == q99, LeRobot's 1e-8 epsilon as its range) to -1 at its constant, where training
    saw it. The post-processor maps any y in [-1, 1] into [q01, q99], a constant dimension back to its constant.
    And pre → post returns x clipped to [q01, q99]: an outlier is clipped, never extrapolated."""
    q01, q99, _ = drawn
    stats = {key: {"q01": np.array(q01), "q99": np.array(q99)} for key in ("action", "observation.state")}
    pre, post = make_pipelines(lerobot_config, stats, None)
    low, high, atol = expected_range(stats)
    constant = low == high
    value = torch.from_numpy(x).float().unsqueeze(0)
    # A training batch's state and action, as ProcessedPolicy.forward pre-processes them.
    batch = pre({"observation.state": value, "action": value.clone()})
    normalized = batch["action"]
    assert torch.equal(batch["observation.state"], normalized), "state and action normalize alike"
    assert_safe_action(normalized, (1, LEROBOT_DIM), -torch.ones(LEROBOT_DIM), torch.ones(LEROBOT_DIM))
    assert (normalized[value <= low] == -1).all(), normalized
    # A constant dimension's range is LeRobot's epsilon: 1e-8 past its constant is already "above q99".
    above = torch.where(constant, value - low >= 1e-8, value >= high)
    assert (normalized[above] == 1).all(), normalized
    event("constant dimensions" if bool(constant.any()) else "ranges only")

    unnormalized = post(torch.from_numpy(y).float().unsqueeze(0))
    assert_safe_action(unnormalized, (1, LEROBOT_DIM), low, high, atol)
    assert ((unnormalized[0, constant] - low[constant]).abs() <= atol).all(), unnormalized

    back = post(normalized)
    expected = torch.minimum(torch.maximum(value, low), high)
    # Within float32 rounding of the statistics' size: a value past the range is already ±1 once normalized.
    assert ((back - expected).abs() <= atol).all(), (back, expected)


# ---- the simulated arm's send_action ---------------------------------------------------------------------------


def command_value():
    """What a caller may put under one key: numbers of every kind, tensors, and things that are not numbers."""
    return st.one_of(
        st.floats(-2, 2), st.floats(-2, 2), ANY_FLOAT, st.integers(-10, 10),
        st.builds(np.float32, st.floats(-2, 2, width=32)),
        st.builds(lambda v: torch.tensor(v), st.floats(-2, 2)),  # 0-d: one number
        st.builds(lambda v: torch.tensor([v, v]), st.floats(-2, 2)),  # two numbers for one joint
        st.sampled_from(["0.5", "fast", None, [0.1], {"x": 1.0}]),
    )


@st.composite
def robot_commands(draw):
    """A policy action (every .vel key), a pose goal (some .pos keys, near the current pose) or a wrong key set."""
    from lerobot_robot_vst.vst_sim_robot import ACTION_KEYS, STATE_KEYS

    kind = draw(st.sampled_from(["action", "action", "action", "pose_goal", "wrong_keys"]))
    if kind == "action":
        keys = list(ACTION_KEYS)
    elif kind == "pose_goal":
        keys = draw(st.lists(st.sampled_from(STATE_KEYS), min_size=1, unique=True))
    else:
        keys = draw(st.lists(st.sampled_from([*ACTION_KEYS, *STATE_KEYS, "shoulder_pan.pos"]), min_size=0,
                             unique=True).filter(lambda k: set(k) != set(ACTION_KEYS) and not set(k) <= set(STATE_KEYS)
                                                 or not k))
    return {key: draw(command_value()) for key in keys}, kind


def as_number(value: object) -> float | None:
    """The one finite number ``value`` stands for, or None (what the robot must refuse)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@fuzz(150)
@given(drawn=robot_commands())
def test_vst_sim_send_action_refuses_or_sends_bounded_commands(sim_robot, drawn) -> None:
    """send_action either raises InvalidCommandError naming the key before anything moves, or steps the simulator
    with one float32 command of 7 finite values in [-1, 1], a policy action's values clipped, and returns it."""
    from lerobot_robot_vst.vst_sim_robot import ACTION_KEYS, InvalidCommandError

    command, kind = drawn
    numbers = {key: as_number(value) for key, value in command.items()}
    received = len(sim_robot.commands_received)
    try:
        sent = sim_robot.send_action(command)
    except InvalidCommandError as refusal:
        assert len(sim_robot.commands_received) == received, "refused after moving"
        bad_values = [key for key, n in numbers.items() if n is None]
        if kind != "wrong_keys" and bad_values:
            assert any(repr(key) in str(refusal) for key in bad_values), str(refusal)
        elif kind == "pose_goal":
            assert "quaternion" in str(refusal), str(refusal)  # the only goal finite numbers can fail to express
        else:
            assert kind == "wrong_keys", f"refused {command}: {refusal}"
        event(f"{kind}: refused")
        return
    assert kind != "wrong_keys" and all(n is not None for n in numbers.values()), f"accepted {command}"
    assert len(sim_robot.commands_received) == received + 1
    applied = sim_robot.commands_received[-1]
    assert applied.shape == (len(ACTION_KEYS),) and applied.dtype == np.float32
    assert np.isfinite(applied).all() and np.abs(applied).max() <= 1.0, applied
    assert list(sent) == list(ACTION_KEYS)
    np.testing.assert_allclose(np.array(list(sent.values()), dtype=np.float32), applied)
    if kind == "action":
        np.testing.assert_allclose(applied, np.clip([numbers[k] for k in ACTION_KEYS], -1, 1).astype(np.float32))
    event(f"{kind}: sent")
