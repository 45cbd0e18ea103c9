"""Build or load the Qwen2.5-VL backbone and its processor.

Three sources, one result (a ``Qwen2_5_VLForConditionalGeneration`` plus a ``Qwen2_5_VLProcessor``):
- ``pretrained_path`` set: a local directory in the Hugging Face layout (real Qwen2.5-VL, a VST checkpoint, or
  the output of our SFT stage). Loaded with ``local_files_only`` and never ``trust_remote_code``.
- ``preset`` set: a shipped public architecture (``vst_vla/vlm/presets``, e.g. Qwen2.5-VL-3B) with random weights
  and the real-size offline tokenizer, optionally cut in depth; for measuring the real size without weights.
- otherwise: a tiny random-init model from the sizes in :class:`BackboneConfig` and the offline tokenizer, so the
  whole pipeline runs on a CPU with nothing downloaded.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from transformers import (
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2VLImageProcessor,
    Qwen2VLVideoProcessor,
)
from transformers.initialization import no_init_weights

from vst_vla.errors import ConfigError, MissingInputError
from vst_vla.io import check_safetensors
from vst_vla.vlm.config import BackboneConfig
from vst_vla.vlm.lora import is_lora_checkpoint
from vst_vla.vlm.presets import preset_hf_config
from vst_vla.vlm.tokenizer import QWEN2_VL_CHAT_TEMPLATE, build_offline_tokenizer, build_real_size_tokenizer

logger = logging.getLogger(__name__)

# FSDP's wrap units for any module holding this backbone: each decoder layer and vision block is sharded on its own
# (accelerate's transformer-based wrap reads a model's ``_no_split_modules``; these are transformers' own).
FSDP_WRAP_UNITS = tuple(Qwen2_5_VLForConditionalGeneration._no_split_modules)

# Qwen2.5-VL sees images in 28x28 pixel units (14 px patches merged 2x2): one unit is one LLM token.
PIXELS_PER_TOKEN = 28 * 28


def tiny_qwen2_5_vl_config(cfg: BackboneConfig, vocab_size: int, special_ids: dict[str, int]) -> Qwen2_5_VLConfig:
    """A Qwen2.5-VL architecture config with the small sizes of ``cfg`` (random init, CPU friendly)."""
    head_dim = cfg.hidden_size // cfg.num_heads
    # M-RoPE splits each head's rotary half-dimension over (time, height, width); Qwen uses 1:1.5:1.5.
    half = head_dim // 2
    t = half // 4
    h = (half - t) // 2
    mrope_section = [t, h, half - t - h]
    text = dict(
        vocab_size=vocab_size,
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_kv_heads,
        max_position_embeddings=4096,
        rope_parameters={"rope_type": "default", "rope_theta": float(cfg.rope_theta), "mrope_section": mrope_section},
        bos_token_id=special_ids["<|endoftext|>"],
        eos_token_id=special_ids["<|im_end|>"],
        pad_token_id=special_ids["<|endoftext|>"],
    )
    vision = dict(
        depth=cfg.vision_depth,
        hidden_size=cfg.vision_hidden_size,
        intermediate_size=cfg.vision_hidden_size * 2,
        num_heads=cfg.vision_num_heads,
        out_hidden_size=cfg.hidden_size,
        fullatt_block_indexes=[cfg.vision_depth - 1],
        window_size=112,
    )
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=special_ids["<|image_pad|>"],
        video_token_id=special_ids["<|video_pad|>"],
        vision_start_token_id=special_ids["<|vision_start|>"],
        vision_end_token_id=special_ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )


def build_processor(cfg: BackboneConfig) -> Qwen2_5_VLProcessor:
    """The processor for a random-init backbone: offline tokenizer (real-size for a preset) + Qwen2-VL image
    processor."""
    tokenizer = build_real_size_tokenizer() if cfg.preset else build_offline_tokenizer(cfg.tokenizer_vocab_size)
    image_processor = Qwen2VLImageProcessor(
        min_pixels=cfg.image_min_tokens * PIXELS_PER_TOKEN, max_pixels=cfg.image_max_tokens * PIXELS_PER_TOKEN
    )
    processor = Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(
            min_pixels=cfg.image_min_tokens * PIXELS_PER_TOKEN, max_pixels=cfg.image_max_tokens * PIXELS_PER_TOKEN
        ),
        chat_template=QWEN2_VL_CHAT_TEMPLATE,
    )
    return processor


def check_pretrained_dir(path: str | Path, what: str = "backbone.pretrained_path") -> None:
    """Refuse a path that is not a Hugging Face model directory; ``what`` names the setting in the message."""
    path = Path(path)
    if not path.is_dir():
        raise MissingInputError(
            f"{what} {str(path)!r} is not a directory; expected a local Qwen2.5-VL checkpoint "
            "directory (config.json, *.safetensors, tokenizer files). Nothing is downloaded."
        )
    if is_lora_checkpoint(path):
        raise MissingInputError(f"{what} {str(path)!r} is a LoRA checkpoint (a frozen base and its adapters); merge "
                                f"it into a plain model first, `vst-vla merge-lora {path} <out>`, and pass <out>")
    if not (path / "config.json").is_file():
        raise MissingInputError(f"{what} {str(path)!r} has no config.json; expected a Hugging Face model directory")


def load_processor(path: str | Path, image_max_tokens: int | None = None) -> Qwen2_5_VLProcessor:
    """Load a processor from a local directory (no download, no remote code)."""
    path = Path(path)
    check_pretrained_dir(path)
    try:
        processor = Qwen2_5_VLProcessor.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as err:  # no or unreadable tokenizer / preprocessor files
        raise MissingInputError(f"{path} holds no usable Qwen2.5-VL processor (tokenizer and preprocessor "
                                f"files): {err}") from None
    if image_max_tokens is not None:
        processor.image_processor.max_pixels = image_max_tokens * PIXELS_PER_TOKEN
        processor.image_processor.size["longest_edge"] = image_max_tokens * PIXELS_PER_TOKEN
    return processor


def build_backbone(cfg: BackboneConfig, device: torch.device | str | None = None,
                   ) -> tuple[Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor]:
    """Build (random init: tiny or ``cfg.preset``) or load (``cfg.pretrained_path``) the VLM and its processor.

    ``device`` creates a random-init model's weights there (None: the CPU); a 3B model initialised on a GPU takes
    seconds where the CPU takes minutes. The processor always lives on the CPU.
    """
    if cfg.pretrained_path:
        path = Path(cfg.pretrained_path)
        processor = load_processor(path, cfg.image_max_tokens)
        # Checked before the weights load: a mismatch would only surface at the first forward, as "Image features
        # and image tokens do not match", and a cut-short weights file without its name.
        check_processor_matches_model(processor, Qwen2_5_VLConfig.from_pretrained(path, local_files_only=True), path)
        for weights in sorted(path.glob("*.safetensors")):
            check_safetensors(weights, "copy the model directory again (a copy or download was cut short?)")
        check_attn_implementation(cfg.attn_implementation)
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
            path, local_files_only=True, dtype=getattr(torch, cfg.dtype), attn_implementation=cfg.attn_implementation)
        if device is not None:
            model.to(device)
        logger.info("loaded Qwen2.5-VL backbone from %s", path)
        return model, processor
    processor = build_processor(cfg)
    tokenizer = processor.tokenizer
    special = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in
               ("<|endoftext|>", "<|im_end|>", "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")}
    with torch.device(device or "cpu"):
        if cfg.preset:
            hf_config = preset_hf_config(cfg.preset, cfg.preset_num_layers, cfg.preset_vision_depth)
            _check_preset_token_ids(hf_config, special)
            model = _initialized_once(hf_config)
        else:
            hf_config = tiny_qwen2_5_vl_config(cfg, vocab_size=len(tokenizer), special_ids=special)
            model = Qwen2_5_VLForConditionalGeneration(hf_config)
    if cfg.attn_implementation != model.config._attn_implementation:
        check_attn_implementation(cfg.attn_implementation)
        model.set_attn_implementation(cfg.attn_implementation)
    cast_parameters(model, cfg.dtype)
    logger.info("built random-init Qwen2.5-VL %s (%.2fM parameters)", cfg.preset or "tiny",
                sum(p.numel() for p in model.parameters()) / 1e6)
    return model, processor


def check_attn_implementation(name: str) -> None:
    """Refuse ``flash_attention_2`` where its package or a GPU is missing, naming what to do instead."""
    if name != "flash_attention_2":
        return
    import importlib.util

    if importlib.util.find_spec("flash_attn") is None or not torch.cuda.is_available():
        raise ConfigError("backbone.attn_implementation=flash_attention_2 needs the flash-attn package and a CUDA "
                          "GPU (pip install flash-attn --no-build-isolation); use sdpa (the default) otherwise")


def enable_gradient_checkpointing(backbone: Qwen2_5_VLForConditionalGeneration) -> None:
    """Recompute every decoder layer's and vision block's activations in the backward pass (transformers'
    checkpointing, non-reentrant so that frozen parts and LoRA adapters work): less memory, about a third more
    compute."""
    backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def _initialized_once(hf_config: Qwen2_5_VLConfig) -> Qwen2_5_VLForConditionalGeneration:
    """A random-init model whose weights are drawn once, by transformers' initialisation.

    The stock constructor draws every weight twice (torch's default, then transformers' ``normal_``): about 14 s
    of the 28 s a 3B-wide preset took to build on two CPU cores. The tiny model keeps the stock constructor so
    that its seeded weights, which tests and recorded runs depend on, stay what they were.
    """
    with no_init_weights():
        model = Qwen2_5_VLForConditionalGeneration(hf_config)
    model.initialize_weights()
    model.tie_weights()
    return model


def check_processor_matches_model(processor: Qwen2_5_VLProcessor, hf_config: Qwen2_5_VLConfig, path: Path) -> None:
    """The tokenizer's image / video / vision-start / vision-end ids must be the ones the model config uses.

    A real-size checkpoint paired with another tokenizer (e.g. the tiny offline one) would otherwise load and
    fail at the first forward with "Image features and image tokens do not match, tokens: 0".

    Raises:
        ConfigError: naming each disagreeing token with both ids.
    """
    expected = {"<|image_pad|>": hf_config.image_token_id, "<|video_pad|>": hf_config.video_token_id,
                "<|vision_start|>": hf_config.vision_start_token_id, "<|vision_end|>": hf_config.vision_end_token_id}
    tokenizer = processor.tokenizer
    wrong = {tok: (tokenizer.convert_tokens_to_ids(tok), want) for tok, want in expected.items()
             if want is not None and tokenizer.convert_tokens_to_ids(tok) != want}
    if wrong:
        listed = ", ".join(f"{tok} is {got} in the tokenizer but {want} in config.json"
                           for tok, (got, want) in wrong.items())
        raise ConfigError(f"the processor in {path} does not belong to its model: {listed} (vocabulary of "
                          f"{len(tokenizer)} tokens, model vocab_size {_vocab_size(hf_config)}); save the "
                          "checkpoint's own processor (tokenizer files) into that directory")


def _vocab_size(hf_config: Qwen2_5_VLConfig) -> int | None:
    text_config = getattr(hf_config, "text_config", None)
    return getattr(text_config, "vocab_size", None) or getattr(hf_config, "vocab_size", None)


def _check_preset_token_ids(hf_config: Qwen2_5_VLConfig, special: dict[str, int]) -> None:
    """The preset's image/video/vision ids must be the tokenizer's, or images would go to the wrong tokens."""
    expected = {"<|image_pad|>": hf_config.image_token_id, "<|video_pad|>": hf_config.video_token_id,
                "<|vision_start|>": hf_config.vision_start_token_id, "<|vision_end|>": hf_config.vision_end_token_id}
    wrong = {tok: (special[tok], want) for tok, want in expected.items() if special[tok] != want}
    if wrong:
        raise RuntimeError(f"tokenizer ids (got, preset) disagree with the preset: {wrong}")


def cast_parameters(model: torch.nn.Module, dtype: str) -> None:
    """The weights in ``dtype`` ("float32" or "bfloat16"), in place. Only the parameters: ``model.to(dtype)`` would
    also cast the rotary frequencies (a buffer), and M-RoPE phases at positions in the thousands would drift by
    radians in bf16; transformers' bf16 loading keeps them in fp32 too."""
    target = getattr(torch, dtype)
    for parameter in model.parameters():
        if parameter.dtype != target:
            parameter.data = parameter.data.to(target)


def backbone_from_hf_config(hf_config: Qwen2_5_VLConfig) -> Qwen2_5_VLForConditionalGeneration:
    """An uninitialised-weights model of a saved architecture, to be filled from a checkpoint's safetensors.

    Random initialisation would be thrown away by the load, and it is most of a load's time at real size
    (several seconds per 100M parameters on a CPU), so it is skipped; the tied output embedding is re-tied
    because skipping the initialisation also skips transformers' tying. Buffers that are not saved (the rotary
    frequencies) are computed in the modules' constructors, not by the initialisation, so they are set.
    """
    with no_init_weights():
        model = Qwen2_5_VLForConditionalGeneration(hf_config)
    model.tie_weights()
    return model


def vision_parameter_names(model: Qwen2_5_VLForConditionalGeneration) -> set[str]:
    """Names of the vision tower's parameters (patch embed, blocks and merger), for a separate learning rate."""
    return {name for name, _ in model.named_parameters() if ".visual." in f".{name}"}
