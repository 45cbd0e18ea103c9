"""The VST sample schema (VST-P / VST-R data, Yang et al. 2025, section 3).

One sample = ``id``, ``data_source``, ``type`` (single_image | multi_image | video), ``images`` (encoded image
bytes, in the order of the ``<image>`` placeholders), ``conversations`` (alternating human / gpt turns) and
``meta_info`` (a JSON object: answer kind, ground truth, reward mode, skill, ...). The same record is what the
spatial engine writes, what the SFT stage trains on and what the RL stage rewards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from vst_vla.errors import UserError

SAMPLE_TYPES = ("single_image", "multi_image", "video")
ANSWER_KINDS = ("choice", "number", "text", "boxes")
IMAGE_PLACEHOLDER = "<image>"
HUMAN, GPT = "human", "gpt"


class SampleError(UserError, ValueError):
    """A sample that does not follow the VST schema; the message names the sample id and the field."""


@dataclass(frozen=True)
class Turn:
    """One conversation turn: ``speaker`` is "human" or "gpt"."""

    speaker: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"from": self.speaker, "value": self.text}


@dataclass(frozen=True)
class SpatialSample:
    """A VST-style spatial QA sample.

    Attributes:
        id: unique sample id.
        data_source: where it came from (e.g. "vst_sim/tabletop" or the released dataset's source name).
        type: one of SAMPLE_TYPES.
        images: encoded images (PNG/JPEG bytes), one per ``<image>`` placeholder, in order.
        conversations: alternating human/gpt turns, starting with human.
        meta_info: answer kind, ground truth and anything else a metric or reward needs.
    """

    id: str
    data_source: str
    type: str
    images: tuple[bytes, ...]
    conversations: tuple[Turn, ...]
    meta_info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"sample {self.id!r}"
        if self.type not in SAMPLE_TYPES:
            raise SampleError(f"{where}: type must be one of {SAMPLE_TYPES}, got {self.type!r}")
        if not self.conversations or self.conversations[0].speaker != HUMAN:
            raise SampleError(f"{where}: conversations must start with a '{HUMAN}' turn")
        for i, turn in enumerate(self.conversations):
            expected = HUMAN if i % 2 == 0 else GPT
            if turn.speaker != expected:
                raise SampleError(f"{where}: turn {i} is from {turn.speaker!r}, expected {expected!r} (turns alternate)")
        placeholders = sum(t.text.count(IMAGE_PLACEHOLDER) for t in self.conversations)
        if placeholders != len(self.images):
            raise SampleError(
                f"{where}: {placeholders} '{IMAGE_PLACEHOLDER}' placeholders but {len(self.images)} images"
            )
        kind = self.meta_info.get("answer_kind")
        if kind is not None and kind not in ANSWER_KINDS:
            raise SampleError(f"{where}: meta_info.answer_kind must be one of {ANSWER_KINDS}, got {kind!r}")

    @property
    def question(self) -> str:
        return self.conversations[0].text

    @property
    def answer(self) -> str:
        """The last gpt turn (the target of SFT, the reference of evaluation)."""
        return self.conversations[-1].text if len(self.conversations) > 1 else ""

    def to_record(self) -> dict[str, Any]:
        """The on-disk record: ``meta_info`` as a JSON string, images as ``{"bytes", "path"}`` structs."""
        return {
            "id": self.id,
            "data_source": self.data_source,
            "type": self.type,
            "images": [{"bytes": b, "path": None} for b in self.images],
            "conversations": [t.to_dict() for t in self.conversations],
            "meta_info": json.dumps(self.meta_info),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> SpatialSample:
        """Inverse of :meth:`to_record`; accepts ``meta_info`` as a dict or JSON string, images as bytes or structs."""
        sample_id = str(record.get("id", "?"))
        missing = [k for k in ("id", "conversations") if k not in record]
        if missing:
            raise SampleError(f"sample {sample_id!r}: missing field(s) {missing}")
        meta = record.get("meta_info") or {}
        if isinstance(meta, str):
            try:
                meta = json.loads(meta) if meta.strip() else {}
            except json.JSONDecodeError as err:
                raise SampleError(f"sample {sample_id!r}: meta_info is not valid JSON ({err})") from err
        images = tuple(_image_bytes(img, sample_id) for img in (record.get("images") or []))
        turns = tuple(Turn(str(t["from"]), str(t["value"])) for t in record["conversations"])
        kind = record.get("type") or ("single_image" if len(images) <= 1 else "multi_image")
        return cls(sample_id, str(record.get("data_source", "")), kind, images, turns, dict(meta))


def _image_bytes(image: Any, sample_id: str) -> bytes:
    if isinstance(image, (bytes, bytearray)):
        return bytes(image)
    if isinstance(image, dict) and image.get("bytes") is not None:
        return bytes(image["bytes"])
    raise SampleError(f"sample {sample_id!r}: an image entry has no embedded bytes (got {type(image).__name__})")
