"""LoRA adapters (Hu et al., 2021) on the Qwen2.5-VL backbone through peft, for the VLM stages and the VLA.

With ``lora.enabled`` the backbone's weights stay frozen and only low-rank adapters on the listed linear layers of
the language model train (plus, in the VLA, what a VLA adds to the backbone: see :class:`LoraAdapters`). The
adapters are injected into the Hugging Face model in place (peft's ``get_peft_model``), so every caller keeps
using ``backbone(...)``, ``backbone.generate`` and ``backbone.model.get_rope_index`` unchanged.

A LoRA checkpoint holds the frozen base under its plain names and the adapters in peft's own format in
``adapter/`` (``adapter_config.json`` + ``adapter_model.safetensors``, what ``PeftModel.from_pretrained`` reads),
so it resumes, and merges (``vst-vla merge-lora``), without the base model it started from. peft is imported only
where adapters are built or read, so importing a config never pulls it in.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from vst_vla.errors import ConfigError, CorruptFileError, MissingInputError

if TYPE_CHECKING:
    from peft import PeftModel

logger = logging.getLogger(__name__)

# The linear layers of every Qwen2.5-VL decoder layer: attention (q/k/v/o) and the SwiGLU MLP (gate/up/down).
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ADAPTER_DIR = "adapter"  # the adapters' folder inside a LoRA checkpoint (peft's format)
ADAPTER_CONFIG = "adapter_config.json"
# The vision tower's MLPs share the names gate_proj / up_proj / down_proj: unless lora.vision_tower, this keeps
# adapters out of it (peft full-matches it against each module's name).
VISION_TOWER_MODULES = r"(.*\.)?visual(\..*)?"
# The parts of a state-dict key that peft's wrappers add: adapter tensors are dropped, wrapper levels removed.
_ADAPTER_TENSOR_PREFIXES = ("lora_", "trainable_tokens_")
_WRAPPER_LEVELS = ("base_layer", "token_adapter")
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class LoraConfig:
    """LoRA settings shared by every stage (``lora.*`` on the command line; these are the defaults).

    ``r`` is the adapters' rank and ``alpha`` their scale (the update is ``alpha / r * B @ A``); ``dropout`` is
    applied to the adapters' input. ``target_modules`` names linear layers by their last name component; they get
    adapters in the language model, and in the vision tower too when ``vision_tower`` is true (its attention is
    ``qkv`` / ``proj``, its MLP ``gate_proj`` / ``up_proj`` / ``down_proj``).
    """

    enabled: bool = False
    r: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    target_modules: tuple[str, ...] = LORA_TARGETS
    vision_tower: bool = False

    def __post_init__(self) -> None:
        if self.r < 1:
            raise ValueError(f"lora.r must be >= 1 (the adapters' rank), got {self.r}")
        if not self.alpha > 0:
            raise ValueError(f"lora.alpha must be > 0 (the adapters' scale is alpha / r), got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"lora.dropout must be in [0, 1), got {self.dropout}")
        targets = self.target_modules
        if isinstance(targets, str) or not targets:
            raise ValueError(f"lora.target_modules must be a non-empty list of module names such as "
                             f"{list(LORA_TARGETS)}, got {targets!r}")
        bad = [name for name in targets if not isinstance(name, str) or not _MODULE_NAME.match(name)]
        if bad:
            raise ValueError(f"lora.target_modules must hold module names (the last part of a layer's name, e.g. "
                             f"q_proj), got {bad}")
        if len(set(targets)) != len(targets):
            raise ValueError(f"lora.target_modules lists a name twice: {list(targets)}")
        object.__setattr__(self, "target_modules", tuple(targets))


def check_lora_options(lora: LoraConfig, hub_push: bool, freeze: object | None = None, where: str = "") -> None:
    """Refuse settings that mean nothing, or are not supported yet, with adapters (called by the stage configs).

    ``freeze`` is the stage's :class:`~vst_vla.vlm.freeze.FreezeConfig` (every field false) and ``where`` its
    dotted name, for the message.
    """
    if not lora.enabled:
        return
    if freeze is not None and any(vars(freeze).values()):
        raise ValueError(f"{where}freeze has no effect with lora.enabled=true (the whole backbone is frozen and only "
                         f"the adapters train); set every {where}freeze field to false")
    if hub_push:
        raise ValueError("hub.push=true with lora.enabled=true is not supported yet: the run's checkpoint holds "
                         "adapters; merge it with `vst-vla merge-lora` and publish the merged model")


def peft_config(lora: LoraConfig, trainable_token_ids: Sequence[int] = (), tied_embeddings: bool = True):
    """peft's ``LoraConfig`` for ``lora``; ``trainable_token_ids`` rows of the input embedding train too.

    The rows are trained through peft's trainable tokens (only those rows, stored as a delta with the adapters);
    with untied embeddings the output embedding's rows of the same tokens train as well.
    """
    from peft import LoraConfig as PeftLoraConfig

    tokens = None
    if trainable_token_ids:
        ids = sorted(int(i) for i in trainable_token_ids)
        tokens = {"embed_tokens": ids} if tied_embeddings else {"embed_tokens": ids, "lm_head": ids}
    return PeftLoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                          target_modules=list(lora.target_modules),
                          exclude_modules=None if lora.vision_tower else VISION_TOWER_MODULES,
                          trainable_token_indices=tokens)


class LoraAdapters:
    """peft adapters injected, in place, into a Hugging Face backbone (which keeps its own class and methods).

    What trains: the adapters and, when given, the rows of ``trainable_token_ids`` in the embeddings. Everything
    else in the backbone is frozen. A model that wraps the backbone (the VLA) keeps its own modules trainable: the
    action head and the state projection are new, randomly initialised parts that no adapter can stand in for,
    and the tokens it added (action bins, queries, ``<|state|>``) have embedding rows the base never learned.

    Args:
        backbone: a ``Qwen2_5_VLForConditionalGeneration``; modified in place.
        config: peft's ``LoraConfig`` (from :func:`peft_config`, or read from a checkpoint).
    """

    def __init__(self, backbone: nn.Module, config) -> None:
        from peft import get_peft_model

        # peft sets this to where the base was loaded from (warning when a saved config said otherwise); the saved
        # value is where the base sits beside the adapters (see save).
        config.base_model_name_or_path = backbone.__dict__.get("name_or_path") or None
        try:
            self.peft_model: PeftModel = get_peft_model(backbone, config)
        except ValueError as err:  # peft's "Target modules {...} not found in the base model"
            raise ConfigError(f"lora.target_modules {sorted(config.target_modules)} do not fit this backbone "
                              f"({err}); name linear layers of its decoder, e.g. {list(LORA_TARGETS)}") from None
        self.backbone = backbone

    @classmethod
    def build(cls, backbone: nn.Module, lora: LoraConfig, trainable_token_ids: Sequence[int] = ()) -> LoraAdapters:
        """Fresh adapters from ``lora`` (LoRA's B matrices start at zero: the model is unchanged at step 0)."""
        tied = bool(getattr(backbone.config, "tie_word_embeddings", True))
        adapters = cls(backbone, peft_config(lora, trainable_token_ids, tied_embeddings=tied))
        trainable, total = adapters.peft_model.get_nb_trainable_parameters()
        logger.info("LoRA r=%d on %s: %.3fM of %.1fM backbone parameters train", lora.r,
                    ", ".join(lora.target_modules), trainable / 1e6, total / 1e6)
        return adapters

    @classmethod
    def load(cls, backbone: nn.Module, directory: str | Path) -> LoraAdapters:
        """The adapters saved in ``directory`` (peft's format), injected into ``backbone`` and trainable."""
        from peft import PeftConfig
        from peft.utils import get_peft_model_state_dict, load_peft_weights, set_peft_model_state_dict

        directory = Path(directory)
        config = PeftConfig.from_pretrained(str(directory))
        config.inference_mode = False
        adapters = cls(backbone, config)
        weights = load_peft_weights(str(directory), device="cpu")
        missing = sorted(set(get_peft_model_state_dict(adapters.peft_model)) - set(weights))
        if missing:
            raise CorruptFileError(f"the adapters in {directory} lack {len(missing)} tensors (e.g. {missing[0]}); "
                                   "copy the checkpoint again")
        set_peft_model_state_dict(adapters.peft_model, weights)
        return adapters

    def save(self, directory: str | Path, base: str | None) -> Path:
        """Write the adapters in peft's format into ``directory`` (created): adapter_config.json and
        adapter_model.safetensors. ``base`` is recorded as ``base_model_name_or_path``: where the frozen base sits,
        relative to ``directory`` (None where it is not a Hugging Face directory of its own)."""
        directory = Path(directory)
        config = self.peft_model.peft_config["default"]
        loaded_from, config.base_model_name_or_path = config.base_model_name_or_path, base
        try:
            # The embedding rows that train are in the adapters already (trainable tokens), the full matrices not.
            self.peft_model.save_pretrained(str(directory), save_embedding_layers=False)
        finally:
            config.base_model_name_or_path = loaded_from
        (directory / "README.md").unlink(missing_ok=True)  # peft's template model card
        return directory

    def merge(self) -> nn.Module:
        """Fold the adapters into the weights and remove them: the backbone becomes a plain Hugging Face model."""
        return self.peft_model.merge_and_unload()


def base_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """``module``'s state under the names it has without adapters (their tensors dropped, peft's wrappers
    unwrapped): what loads into the same model built without LoRA. Tensors are shared, not copied."""
    out: dict[str, torch.Tensor] = {}
    for key, tensor in module.state_dict().items():
        parts = key.split(".")
        if any(part.startswith(_ADAPTER_TENSOR_PREFIXES) for part in parts):
            continue
        out[".".join(p for p in parts if p not in _WRAPPER_LEVELS)] = tensor
    return out


def is_lora_checkpoint(directory: str | Path) -> bool:
    """True for a checkpoint directory that holds adapters (``adapter/adapter_config.json``)."""
    return (Path(directory) / ADAPTER_DIR / ADAPTER_CONFIG).is_file()


def read_adapter_config(directory: str | Path) -> dict:
    """The saved ``adapter_config.json`` of a LoRA checkpoint directory, as a dict."""
    path = Path(directory) / ADAPTER_DIR / ADAPTER_CONFIG
    if not path.is_file():
        raise MissingInputError(f"{directory} holds no adapters ({ADAPTER_DIR}/{ADAPTER_CONFIG} is missing)")
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptFileError(f"{path} is not valid JSON ({err}); copy the checkpoint again") from None


def check_resume_matches(checkpoint: str | Path, lora: LoraConfig) -> None:
    """Refuse to resume ``checkpoint`` (a pretrained_model directory) with other LoRA settings than it trained with.

    Raises:
        ConfigError: naming the first setting that differs, both values, and what to change.
    """
    hint = "resuming would mix two models; set it back, or train under another run_name"
    if not is_lora_checkpoint(checkpoint):
        if lora.enabled:
            raise ConfigError(f"lora.enabled=true but the checkpoint {checkpoint} was trained without adapters; {hint}")
        return
    if not lora.enabled:
        raise ConfigError(f"lora.enabled=false but the checkpoint {checkpoint} holds LoRA adapters; {hint}")
    saved = read_adapter_config(checkpoint)
    exclude = saved.get("exclude_modules")
    pairs = {"r": (lora.r, saved.get("r")), "alpha": (lora.alpha, saved.get("lora_alpha")),
             "dropout": (lora.dropout, saved.get("lora_dropout")),
             "target_modules": (sorted(lora.target_modules), sorted(saved.get("target_modules") or [])),
             "vision_tower": (lora.vision_tower, exclude != VISION_TOWER_MODULES)}
    for name, (wanted, found) in pairs.items():
        if wanted != found:
            raise ConfigError(f"lora.{name}={wanted} but the checkpoint {checkpoint} was trained with {found}; {hint}")
