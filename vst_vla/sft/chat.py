"""VST samples as chat messages, with the plain or the think (CoT cold start) system prompt."""

from __future__ import annotations

import io

from PIL import Image

from vst_vla.spatial.schema import GPT, IMAGE_PLACEHOLDER, SpatialSample

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."
# The reasoning prompt of R1-style RL that VST-R's cold start and RL stages use.
THINK_SYSTEM_PROMPT = (
    "You are a helpful assistant. You FIRST think about the reasoning process as an internal monologue and then "
    "provide the final answer. The reasoning process MUST BE enclosed within <think> </think> tags."
)


def decode_images(sample: SpatialSample) -> list[Image.Image]:
    """The sample's images as RGB PIL images, in placeholder order."""
    return [Image.open(io.BytesIO(b)).convert("RGB") for b in sample.images]


def to_messages(sample: SpatialSample, system_prompt: str, include_answer: bool = True) -> list[dict]:
    """Chat messages: system, then the turns with ``<image>`` placeholders turned into image parts.

    With ``include_answer=False`` the final gpt turn is left out (the prompt for generation).
    """
    messages = [{"role": "system", "content": [{"type": "text", "text": system_prompt}]}]
    turns = sample.conversations
    if not include_answer and turns and turns[-1].speaker == GPT:
        turns = turns[:-1]
    for turn in turns:
        role = "assistant" if turn.speaker == GPT else "user"
        content = []
        for i, piece in enumerate(turn.text.split(IMAGE_PLACEHOLDER)):
            if i > 0:
                content.append({"type": "image"})
            if piece.strip():
                content.append({"type": "text", "text": piece.strip("\n")})
        messages.append({"role": role, "content": content})
    return messages
