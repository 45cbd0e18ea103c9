"""A Qwen2-style byte-level BPE tokenizer built offline.

Real Qwen2.5-VL tokenizers come with downloaded weights, which this project never fetches. For the tiny
random-init backbone we train a small byte-level BPE on text the project generates itself (instructions,
spatial vocabulary, numbers), with Qwen2's pre-tokenizer and the same special tokens, and wrap it in
transformers' ``Qwen2Tokenizer`` so every downstream piece (processor, chat template, generation) is the
stock code path a real checkpoint takes. The corpus and trainer are deterministic, so the same vocabulary is
built on every machine.
"""

from __future__ import annotations

import itertools
import json

from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers
from transformers import Qwen2Tokenizer

# Qwen2's pre-tokenizer split (from transformers' tokenization_qwen2.py).
_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# Qwen2.5-VL's special tokens, in the order of the released tokenizer.
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

_WORDS = (
    "what action should the robot take to pick up lift the red green blue yellow cube block can nut door "
    "open close place put on in into onto stack left right above below behind front of near far closest "
    "farthest table plate bowl gripper camera image view frame object which is closer to than distance between "
    "size height width depth meters centimeters degrees rotate move forward backward up down yes no answer "
    "question think reasoning first second third how many count there are a an and or with from by you "
    "system user assistant helpful assistant please describe the scene 3D bounding box position orientation"
).split()


def _training_corpus() -> list[str]:
    """Deterministic text the BPE vocabulary is learned from: words, phrases, numbers and punctuation."""
    lines = [" ".join(_WORDS)]
    lines += [f"{a} {b} {c}" for a, b, c in itertools.islice(itertools.permutations(_WORDS, 3), 4000)]
    lines += [f"{x / 100:.2f} {x} {x}.{x % 10} -{x}" for x in range(0, 1000, 7)]
    lines += ["What action should the robot take to lift the red cube?", '{"bbox_3d": [0.1, -0.2, 1.5]}']
    lines += ["<think> reasoning </think> answer: (A) (B) (C) (D) A. B. C. D."]
    return lines


def build_offline_tokenizer(vocab_size: int = 2048) -> Qwen2Tokenizer:
    """Train a byte-level BPE on the built-in corpus and wrap it as a ``Qwen2Tokenizer``.

    Args:
        vocab_size: size of the learned BPE vocabulary (special tokens come on top).
    Returns:
        A tokenizer whose special tokens, pad/eos conventions and pre-tokenization match Qwen2.5-VL's.
    """
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[QWEN_SPECIAL_TOKENS[0]],
        show_progress=False,
    )
    bpe.train_from_iterator(_training_corpus(), trainer=trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tokenizer = Qwen2Tokenizer(vocab=model["vocab"], merges=merges, errors="replace")
    tokenizer.add_special_tokens({"additional_special_tokens": list(QWEN_SPECIAL_TOKENS[1:])})
    tokenizer.chat_template = QWEN2_VL_CHAT_TEMPLATE
    return tokenizer


# Qwen2-VL's chat template (as shipped with Qwen2.5-VL-Instruct): system prompt, image/video placeholders.
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
