"""The offline tokenizers: the real-size one has Qwen2.5-VL's size and ids; adding tokens keeps existing ids."""

import pytest

from vst_vla.vlm.tokenizer import (
    QWEN_OTHER_ADDED_TOKENS,
    QWEN_SPECIAL_TOKENS,
    QWEN_TOKENIZER_SIZE,
    add_missing_tokens,
    build_offline_tokenizer,
    build_real_size_tokenizer,
)


@pytest.fixture(scope="module")
def real_size():
    return build_real_size_tokenizer()


def test_real_size_tokenizer_has_qwens_size_and_special_ids(real_size) -> None:
    assert QWEN_TOKENIZER_SIZE == 151_665
    assert len(real_size) == 151_665
    # The ids a Qwen2.5-VL-3B config refers to (bos, eos, vision start/end, image and video placeholders).
    ids = dict(zip(QWEN_SPECIAL_TOKENS + QWEN_OTHER_ADDED_TOKENS,
                   real_size.convert_tokens_to_ids(list(QWEN_SPECIAL_TOKENS + QWEN_OTHER_ADDED_TOKENS)), strict=True))
    assert ids["<|endoftext|>"] == 151643 and ids["<|im_start|>"] == 151644 and ids["<|im_end|>"] == 151645
    assert (ids["<|vision_start|>"], ids["<|vision_end|>"]) == (151652, 151653)
    assert (ids["<|image_pad|>"], ids["<|video_pad|>"]) == (151655, 151656)
    assert (ids["<tool_call>"], ids["<|file_sep|>"]) == (151657, 151664)
    assert real_size.pad_token_id == 151643


def test_real_size_tokenizer_still_encodes_text_and_chat(real_size) -> None:
    text = "What action should the robot take to lift the red cube? 0.25"
    ids = real_size(text, add_special_tokens=False).input_ids
    assert real_size.decode(ids) == text
    assert max(ids) < 151643  # plain text never lands on an added token
    chat = real_size.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert chat.startswith("<|im_start|>system\n") and "<|im_start|>user\nhi<|im_end|>" in chat


def test_small_tokenizer_keeps_its_layout() -> None:
    tok = build_offline_tokenizer()
    assert tok.convert_tokens_to_ids("<|endoftext|>") == 0
    assert tok.convert_tokens_to_ids(QWEN_SPECIAL_TOKENS[-1]) == len(tok) - 1
    assert len(tok) < 2048


def test_add_missing_tokens_adds_in_order_and_keeps_existing_ids() -> None:
    tok = build_offline_tokenizer()
    n = len(tok)
    add_missing_tokens(tok, ["<|a|>", "<|b|>"])
    assert tok.convert_tokens_to_ids(["<|a|>", "<|b|>"]) == [n, n + 1]
    add_missing_tokens(tok, ["<|b|>", "<|c|>", "<|im_end|>"])
    assert tok.convert_tokens_to_ids(["<|a|>", "<|b|>", "<|c|>"]) == [n, n + 1, n + 2]
    assert len(tok) == n + 3
    # Added as special: never split, and dropped by skip_special_tokens.
    assert tok("x<|c|>y", add_special_tokens=False).input_ids[1] == n + 2
    assert tok.decode([n + 2], skip_special_tokens=True) == ""


def test_spatial_words_are_single_tokens() -> None:
    """The engine's and probes' words (colours, shapes, relations) are one token each, as in Qwen's vocabulary,
    mid-sentence and after a question's first word alike."""
    tok = build_offline_tokenizer()
    text = "Is there an orange square? the purple cylinder is farther from the viewer than the black sphere"
    pieces = tok.tokenize(text)
    for word in ("orange", "square", "purple", "cylinder", "farther", "viewer", "black", "sphere"):
        assert "Ġ" + word in pieces, (word, pieces)
    before = build_offline_tokenizer(spatial_words=False)  # the instruction words alone, for measurement
    assert len(before.tokenize(" purple")) > 1 and len(before) < len(tok)
