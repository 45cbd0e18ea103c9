"""GRPO with DAPO tricks as a trainable object for the shared trainer loop (VST-R, section 3.3).

Each trainer step calls :meth:`GRPOLearner.forward` on a batch of prompts. Every ``updates_per_rollout`` steps the
learner samples a group of ``group_size`` answers per prompt in one batched ``generate`` call (KV cache,
temperature 1.0), scores them with the rule rewards, standardises rewards within each group, and drops the
groups whose rewards are all equal (dynamic sampling). The step's loss is the clip-higher surrogate with
token-level aggregation on the kept rollouts, against the log-probs recorded at sampling time.

Under data parallelism each process samples the groups of its own prompts; the token-level mean still runs over
the whole global batch (each process's token sum over every process's token count), so the averaged gradient is
the one a single process with all the rollouts computes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from vst_vla.precision import AutocastModule
from vst_vla.rl.grpo import (
    clipped_surrogate_loss,
    dynamic_sampling_mask,
    group_advantages,
    token_entropy,
)
from vst_vla.rl.rewards import overall_reward
from vst_vla.sft.chat import decode_images, to_messages
from vst_vla.sft.generation import vision_token_ids
from vst_vla.sft.model import SpatialVLM
from vst_vla.spatial.schema import SpatialSample

if TYPE_CHECKING:
    from vst_vla.training.distributed import Processes


@dataclass(frozen=True)
class GRPOConfig:
    """GRPO / DAPO settings (VST-R's released recipe: n = 5, T = 1.0, clip 0.2 / 0.28, no KL)."""

    group_size: int = 5
    temperature: float = 1.0
    max_new_tokens: int = 96
    clip_low: float = 0.2
    clip_high: float = 0.28
    kl_coef: float = 0.0
    updates_per_rollout: int = 1
    format_weight: float = 0.5

    def __post_init__(self) -> None:
        if self.group_size < 2:
            raise ValueError(
                f"rl.group_size must be >= 2 (advantages compare rollouts of a prompt), got {self.group_size}"
            )
        if self.temperature <= 0 or self.max_new_tokens < 1 or self.updates_per_rollout < 1:
            raise ValueError("rl.temperature must be > 0 and rl.max_new_tokens, rl.updates_per_rollout >= 1")
        if not 0 <= self.clip_low < 1 or self.clip_high < 0:
            raise ValueError("rl.clip_low must be in [0, 1) and rl.clip_high >= 0")


@dataclass
class Rollouts:
    """Sampled sequences and what the loss needs: model inputs (B*n rows), masks, old log-probs, advantages."""

    inputs: dict
    response_mask: torch.Tensor
    logp_old: torch.Tensor
    ref_logp: torch.Tensor | None
    advantages: torch.Tensor
    logs: dict[str, float]


class PromptDataset(torch.utils.data.Dataset):
    """Spatial samples as RL prompts (the trainer batches them as plain lists)."""

    def __init__(self, samples: list[SpatialSample]) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> SpatialSample:
        return self.samples[i]

    @staticmethod
    def collate_fn(samples: list[SpatialSample]) -> list[SpatialSample]:
        return samples


class GRPOLearner(AutocastModule):
    """The policy being reinforced (and its optional frozen reference).

    Args:
        vlm: the model to train (from an SFT / CoT checkpoint).
        cfg: GRPO settings.
        system_prompt: the think prompt the model was cold-started with.
        reference: frozen copy for the KL term (only when ``cfg.kl_coef > 0``).
        processes: the data-parallel processes this learner runs among (None: one process); the token-level loss
            is normalised by their total token count.
    """

    def __init__(
        self, vlm: SpatialVLM, cfg: GRPOConfig, system_prompt: str, reference: SpatialVLM | None = None,
        processes: Processes | None = None,
    ) -> None:
        super().__init__()
        self.vlm = vlm
        self.cfg = cfg
        self.system_prompt = system_prompt
        self.reference = [reference] if reference is not None else []  # a list keeps it out of parameters()
        self.processes = processes
        self._rollouts: Rollouts | None = None
        self._uses = 0

    def vision_parameter_names(self) -> set[str]:
        return {f"vlm.{name}" for name in self.vlm.vision_parameter_names()}

    def enable_gradient_checkpointing(self) -> None:
        self.vlm.enable_gradient_checkpointing()

    def resume_state(self) -> dict[str, torch.Tensor]:
        """The rollout batch still being reused and its use count, as named tensors (empty when there is none).

        Saved with each checkpoint (:mod:`vst_vla.training.checkpoint`): with ``updates_per_rollout > 1`` a run
        resumed mid-cycle must reuse these rollouts, sampled by weights that no longer exist, to stay on course.
        """
        r = self._rollouts
        if r is None:
            return {}
        state = {"uses": torch.tensor(self._uses), "response_mask": r.response_mask, "logp_old": r.logp_old,
                 "advantages": r.advantages, **{f"inputs.{k}": v for k, v in r.inputs.items()},
                 **{f"logs.{k}": torch.tensor(v, dtype=torch.float64) for k, v in r.logs.items()}}
        if r.ref_logp is not None:
            state["ref_logp"] = r.ref_logp
        return {k: v.detach().contiguous() for k, v in state.items()}

    def load_resume_state(self, state: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`resume_state` returned (an empty dict: no rollouts yet)."""
        if not state:
            self._rollouts, self._uses = None, 0
            return
        state = {k: v.to(self.device) for k, v in state.items()}
        self._uses = int(state["uses"])
        self._rollouts = Rollouts(
            inputs={k.removeprefix("inputs."): v for k, v in state.items() if k.startswith("inputs.")},
            response_mask=state["response_mask"], logp_old=state["logp_old"], ref_logp=state.get("ref_logp"),
            advantages=state["advantages"],
            logs={k.removeprefix("logs."): float(v) for k, v in state.items() if k.startswith("logs.")})

    def save_pretrained(self, directory):
        return self.vlm.save_pretrained(directory)

    def fsdp_units(self) -> list[nn.Module]:
        """Under FSDP2 (vst_vla.training.sharding), the backbone is a unit of its own: rollouts call its generate
        and forward outside this module's forward. transformers' generate sees a module FSDP manages and keeps the
        processes' decoding steps in lockstep (synced_gpus), while their sequences end at different lengths."""
        return [self.vlm.backbone]

    def _prompt_inputs(self, samples: list[SpatialSample]) -> dict:
        processor = self.vlm.processor
        processor.tokenizer.padding_side = "left"
        repeated = [s for s in samples for _ in range(self.cfg.group_size)]
        texts = [processor.apply_chat_template(to_messages(s, self.system_prompt, include_answer=False),
                                               add_generation_prompt=True, tokenize=False) for s in repeated]
        images = [img for s in repeated for img in decode_images(s)] or None
        return processor(images=images, text=texts, padding=True, return_tensors="pt").to(self.device)

    def _token_logp(self, model: nn.Module, inputs: dict, response_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probs (B, T) of the response tokens and their logits (B, T, V)."""
        with self.autocast():
            logits = model(**inputs, use_cache=False).logits[:, -response_len - 1 : -1].float()
        targets = inputs["input_ids"][:, -response_len:]
        return torch.log_softmax(logits, -1).gather(-1, targets[..., None])[..., 0], logits

    @torch.no_grad()
    def rollout(self, samples: list[SpatialSample]) -> Rollouts:
        """Sample a group per prompt, score it and keep the informative groups."""
        backbone, tokenizer, n = self.vlm.backbone, self.vlm.processor.tokenizer, self.cfg.group_size
        prompt = self._prompt_inputs(samples)
        with self.autocast():
            sequences = backbone.generate(**prompt, do_sample=True, temperature=self.cfg.temperature, top_p=1.0,
                                          top_k=0, max_new_tokens=self.cfg.max_new_tokens,
                                          suppress_tokens=vision_token_ids(tokenizer),
                                          pad_token_id=tokenizer.pad_token_id)
        response = sequences[:, prompt["input_ids"].shape[1] :]
        end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
        # Tokens up to and including the first end-of-turn count; what generate padded after it does not.
        ended = (response == end_id).int().cumsum(-1)
        response_mask = (ended == 0) | ((ended == 1) & (response == end_id))
        texts = tokenizer.batch_decode(torch.where(response_mask, response, tokenizer.pad_token_id),
                                       skip_special_tokens=True)
        scores = [overall_reward(t, s.meta_info, self.cfg.format_weight) for t, s in
                  zip(texts, [s for s in samples for _ in range(n)])]
        rewards = torch.tensor([sc["reward"] for sc in scores], dtype=torch.float32)
        keep_groups = dynamic_sampling_mask(rewards, n)
        keep = keep_groups.repeat_interleave(n)
        inputs = dict(prompt)
        inputs["input_ids"] = sequences
        inputs["attention_mask"] = torch.cat([prompt["attention_mask"], response_mask.long()], dim=1)
        if "mm_token_type_ids" in inputs:
            inputs["mm_token_type_ids"] = torch.cat([prompt["mm_token_type_ids"], torch.zeros_like(response)], dim=1)
        logp_old, _ = self._token_logp(backbone, inputs, response.shape[1])
        ref_logp = None
        if self.reference:
            ref_logp = self._token_logp(self.reference[0].backbone, inputs, response.shape[1])[0]
        logs = {"reward_mean": float(rewards.mean()), "reward_std": float(rewards.std()),
                "accuracy": sum(s["accuracy"] for s in scores) / len(scores),
                "format_rate": sum(s["format"] for s in scores) / len(scores),
                "groups_kept_frac": float(keep_groups.float().mean()),
                "response_length": float(response_mask.sum(-1).float().mean())}
        advantages = group_advantages(rewards, n).to(self.device)
        return Rollouts(inputs, response_mask & keep[:, None].to(response_mask.device), logp_old, ref_logp,
                        advantages, logs)

    def _token_share(self, tokens: float) -> float:
        """The factor that turns this process's token mean into its part of the global batch's token mean.

        DDP averages gradients over the ``W`` processes, so process ``r`` contributes ``sum_r / (N / W)`` where
        ``N`` is every process's token count: the average is then ``sum / N``, DAPO's token-level mean over the
        global batch. One process: exactly 1.0, its loss untouched."""
        if self.processes is None or self.processes.world_size == 1:
            return 1.0
        total = self.processes.total(tokens)
        return tokens * self.processes.world_size / total if total else 0.0

    def forward(self, samples: list[SpatialSample]) -> tuple[torch.Tensor, dict[str, float]]:
        """One policy-gradient update's loss; samples a new rollout batch every ``updates_per_rollout`` calls."""
        if self._rollouts is None or self._uses >= self.cfg.updates_per_rollout:
            self.vlm.eval()
            self._rollouts, self._uses = self.rollout(samples), 0
            self.vlm.train()
        self._uses += 1
        r = self._rollouts
        logp_new, logits = self._token_logp(self.vlm.backbone, r.inputs, r.response_mask.shape[1])
        share = self._token_share(float(r.response_mask.sum()))  # every process calls it, tokens or not
        if not r.response_mask.any():
            # Every group had equal rewards: no signal this step (a zero loss that keeps the graph intact).
            return logp_new.sum() * 0.0, {**r.logs, "loss": 0.0, "clip_frac": 0.0, "kl": 0.0, "entropy": 0.0}
        loss, stats = clipped_surrogate_loss(logp_new, r.logp_old, r.advantages, r.response_mask,
                                             self.cfg.clip_low, self.cfg.clip_high, r.ref_logp, self.cfg.kl_coef)
        if share != 1.0:
            loss = loss * share
        logs = {**r.logs, "loss": float(loss.detach()), "clip_frac": stats["clip_frac"], "kl": stats["kl_mean"],
                "entropy": token_entropy(logits.detach(), r.response_mask)}
        return loss, logs
