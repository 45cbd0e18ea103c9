"""A Qwen2-style byte-level BPE tokenizer built offline.

Real Qwen2.5-VL tokenizers come with downloaded weights, which this project never fetches. For the tiny
random-init backbone we train a small byte-level BPE on text the project generates itself (instructions,
spatial vocabulary, numbers), with Qwen2's pre-tokenizer and the same special tokens, and wrap it in
transformers' ``Qwen2Tokenizer`` so every downstream piece (processor, chat template, generation) is the
stock code path a real checkpoint takes. The corpus and trainer are deterministic, so the same vocabulary is
built on every machine.

:func:`build_real_size_tokenizer` pads that BPE to Qwen2's real size (151,643 byte-level entries, then the 22
added tokens at their released ids, 151,665 in all), so that start-up, embedding and checkpoint costs can be
measured at the real vocabulary size without the real files.

Tokenizer calls that look cheap are not: a fast tokenizer's ``get_vocab()`` and ``len()`` each rebuild the
whole vocabulary map (about 0.1 s and 0.04 s at 151,665 entries), so code that runs per token must use
:func:`add_missing_tokens` or ``convert_tokens_to_ids`` on the whole list instead.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence

from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerBase, Qwen2Tokenizer

# Qwen2's pre-tokenizer split (from transformers' tokenization_qwen2.py).
_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"""
    r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
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

# The released tokenizer's other added tokens (tool calls, fill-in-the-middle), not special, ids 151657..151664.
QWEN_OTHER_ADDED_TOKENS = (
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)

# Qwen2 / Qwen2.5-VL: 151,643 byte-level BPE entries (256 bytes + 151,387 merges), then 22 added tokens.
QWEN_BPE_SIZE = 151_643
QWEN_TOKENIZER_SIZE = QWEN_BPE_SIZE + len(QWEN_SPECIAL_TOKENS) + len(QWEN_OTHER_ADDED_TOKENS)

_WORDS = (
    "what action should the robot take to pick up lift the red green blue yellow cube block can nut door "
    "open close place put on in into onto stack left right above below behind front of near far closest "
    "farthest table plate bowl gripper camera image view frame object which is closer to than distance between "
    "size height width depth meters centimeters degrees rotate move forward backward up down yes no answer "
    "question think reasoning first second third how many count there are a an and or with from by you "
    "system user assistant helpful assistant please describe the scene 3D bounding box position orientation"
).split()
# The words of the spatial-QA engine's questions, answers and reasoning, and of the perception probes: each
# becomes one token, as it is in Qwen's real vocabulary. Split into letters, a colour such as "purple" spans six
# tokens the tiny model must first compose before it can bind the word to what the image shows.
_SPATIAL_WORDS = (
    "point letter field x y z its option has reply vertical purple orange black white horizontal pixels pixel "
    "metres metre label video your bbox only given choices directly respond choice correct centre side number "
    "marked frames frame time order output give as cubes cube two single it direction json list pitch yaw roll "
    "name entries sizes rotation angles units points one away facing along did at just value labelled images top "
    "appear does comes these objects viewing towards farther nearer viewer labels straight shows same where "
    "estimate clockwise counterclockwise moved integer during seen without face turning approach find locate "
    "grasp nearest stayed but turned turn sweeps across appears look them apart measure line longest that matches "
    "another viewpoint corresponds measured optical axis if stood looking would viewed ahead later centres "
    "relative imagine standing counter sideways was taken lower different wants bumping while staying clear "
    "neighbouring come each keeps next last higher high fingertips fingertip long length edge pan over course "
    "surface largest dimension arm base detect all their boxes every square squares sphere cylinder ball "
    "bottom middle small large row column cell grid colour colours part alphabetical order exists"
).split()


def _training_corpus(spatial_words: bool = True) -> list[str]:
    """Deterministic text the BPE vocabulary is learned from: words, phrases, numbers and punctuation."""
    lines = [" " + " ".join(_WORDS)]  # a leading space: "Ġwhat", as mid-sentence
    lines += [" " + " ".join(_SPATIAL_WORDS)] if spatial_words else []
    lines += [f"{a} {b} {c}" for a, b, c in itertools.islice(itertools.permutations(_WORDS, 3), 4000)]
    lines += [f"{x / 100:.2f} {x} {x}.{x % 10} -{x}" for x in range(0, 1000, 7)]
    lines += ["What action should the robot take to lift the red cube?", '{"bbox_3d": [0.1, -0.2, 1.5]}']
    lines += ["<think> reasoning </think> answer: (A) (B) (C) (D) A. B. C. D."]
    return lines


def _learned_bpe(vocab_size: int, special_tokens: Sequence[str], spatial_words: bool = True,
                 ) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """(vocab, merges) of a byte-level BPE trained on the built-in corpus, at most ``vocab_size`` entries.

    The corpus is small, so training stops early (a few hundred entries) whatever the bound.
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
        special_tokens=list(special_tokens),
        show_progress=False,
    )
    bpe.train_from_iterator(_training_corpus(spatial_words), trainer=trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return dict(model["vocab"]), merges


def _wrap(vocab: dict[str, int], merges: list[tuple[str, str]]) -> Qwen2Tokenizer:
    """A ``Qwen2Tokenizer`` over a BPE, with Qwen2.5-VL's special tokens and chat template."""
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges, errors="replace")
    tokenizer.add_special_tokens({"additional_special_tokens": list(QWEN_SPECIAL_TOKENS[1:])})
    tokenizer.chat_template = QWEN2_VL_CHAT_TEMPLATE
    return tokenizer


def build_offline_tokenizer(vocab_size: int = 2048, spatial_words: bool = True) -> Qwen2Tokenizer:
    """Train a byte-level BPE on the built-in corpus and wrap it as a ``Qwen2Tokenizer``.

    Args:
        vocab_size: upper bound on the learned BPE vocabulary (special tokens come on top). The built-in corpus
            supports a few hundred entries, so larger bounds change nothing; for the real size use
            :func:`build_real_size_tokenizer`.
        spatial_words: learn the spatial-QA words too (the default). False learns the instruction words alone,
            the vocabulary of before, for measuring what the spatial words change
            (``experiments/perception/token_counts.py``).
    Returns:
        A tokenizer whose special tokens, pad/eos conventions and pre-tokenization match Qwen2.5-VL's.
    """
    vocab, merges = _learned_bpe(vocab_size, QWEN_SPECIAL_TOKENS[:1], spatial_words)
    return _wrap(vocab, merges)


def build_real_size_tokenizer() -> Qwen2Tokenizer:
    """An offline tokenizer of Qwen2.5-VL's real size: 151,665 entries, special tokens at their released ids.

    The learned BPE (see :func:`build_offline_tokenizer`) is padded with synthetic merges, each joining two
    earlier entries, up to Qwen2's 151,643 BPE entries (so the merge table has the real 151,387 rows too);
    ``<|endoftext|>`` then lands on 151643, ``<|im_end|>`` on 151645, ``<|image_pad|>`` on 151655 and the tool
    and fill-in-the-middle tokens on 151657..151664, as in the released tokenizer. Deterministic; about a second.
    The synthetic entries are not Qwen's (text tokenizes differently): this is for measuring sizes and start-up,
    not for reading real checkpoints.
    """
    vocab, merges = _learned_bpe(QWEN_BPE_SIZE, ())
    base = sorted(vocab, key=vocab.__getitem__)
    k = 0
    # Pairs of the learned entries suffice: a few hundred squared is more than the 151k entries needed.
    while len(vocab) < QWEN_BPE_SIZE:
        left, right = base[k % len(base)], base[(k // len(base)) % len(base)]
        k += 1
        joined = left + right
        if joined not in vocab:
            vocab[joined] = len(vocab)
            merges.append((left, right))
    tokenizer = _wrap(vocab, merges)
    tokenizer.add_tokens(list(QWEN_OTHER_ADDED_TOKENS), special_tokens=False)
    ids = tokenizer.convert_tokens_to_ids([*QWEN_SPECIAL_TOKENS, *QWEN_OTHER_ADDED_TOKENS])
    if ids != list(range(QWEN_BPE_SIZE, QWEN_TOKENIZER_SIZE)):
        raise RuntimeError(f"added tokens landed on ids {ids[0]}..{ids[-1]}, not Qwen's {QWEN_BPE_SIZE}..")
    return tokenizer


def add_missing_tokens(tokenizer: PreTrainedTokenizerBase, tokens: Sequence[str], special: bool = True) -> None:
    """Add the ``tokens`` the tokenizer does not hold yet, in order; existing ones keep their ids.

    Looks every token up in the backend's vocabulary (O(1) each) instead of calling ``get_vocab()`` per token,
    which rebuilds the whole map each time: 256 action tokens at Qwen's size took about 40 s that way.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        missing = [t for t in tokens if backend.token_to_id(t) is None]
    else:
        vocab = tokenizer.get_vocab()  # slow tokenizers: one full map, not one per token
        missing = [t for t in tokens if t not in vocab]
    if missing:
        tokenizer.add_tokens(missing, special_tokens=special)


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
