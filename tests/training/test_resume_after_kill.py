"""Resuming after a kill lands exactly on course: the random stream, the log and the learner's own state.

The kill matrix (``python -m vst_vla.tools.chaos``) found each of these on real commands; these are their cheap,
in-process forms. A "kill" here is an exception out of the data loader after a given number of batches: the
trainer has then logged steps past its last checkpoint, as a SIGKILL between a log line and a checkpoint leaves it.
"""

import contextlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import Dataset

from vst_vla.training.checkpoint import PRETRAINED_DIR, last_checkpoint
from vst_vla.training.config import TrainerConfig, WandbConfig
from vst_vla.training.trainer import TRAIN_LOG, Trainer


class Points(Dataset):
    """Eight fixed 3-vectors; raises ``_Killed`` once ``kill_after`` items were read (None: never)."""

    def __init__(self, kill_after: int | None = None) -> None:
        self.data = torch.linspace(-1, 1, 24).reshape(8, 3)
        self.remaining = kill_after

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> torch.Tensor:
        if self.remaining is not None:
            if self.remaining <= 0:
                raise _Killed
            self.remaining -= 1
        return self.data[i]


class _Killed(Exception):
    pass


class NoisyRegression(torch.nn.Module):
    """A loss that draws from torch's global RNG every step, like flow-matching noise, dropout or GRPO sampling."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(3))

    def forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        loss = ((batch + torch.randn_like(batch)) @ self.w - 1).pow(2).mean()
        return loss, {"loss": float(loss.detach())}

    def save_pretrained(self, directory: Path) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        save_file(self.state_dict(), str(Path(directory) / "model.safetensors"))

    @classmethod
    def from_checkpoint(cls, checkpoint: Path) -> "NoisyRegression":
        model = cls()
        model.load_state_dict(load_file(str(checkpoint / PRETRAINED_DIR / "model.safetensors")))
        return model


class ReusedNoise(NoisyRegression):
    """Draws one noise tensor every second step and reuses it for the next, as GRPO reuses a rollout batch: a
    resume between the two uses needs the drawn tensor back from the checkpoint."""

    def __init__(self) -> None:
        super().__init__()
        self.noise: torch.Tensor | None = None
        self.uses = 0

    def forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        if self.noise is None or self.uses == 2:
            self.noise, self.uses = torch.randn(batch.shape), 0
        self.uses += 1
        loss = ((batch + self.noise) @ self.w - 1).pow(2).mean()
        return loss, {"loss": float(loss.detach())}

    def resume_state(self) -> dict[str, torch.Tensor]:
        return {} if self.noise is None else {"noise": self.noise, "uses": torch.tensor(self.uses)}

    def load_resume_state(self, state: dict[str, torch.Tensor]) -> None:
        self.noise, self.uses = state.get("noise"), int(state.get("uses", 0))


def cfg(save_every: int) -> TrainerConfig:
    return TrainerConfig(steps=6, batch_size=2, lr=1e-2, warmup_steps=0, log_every=1, save_every=save_every,
                         precision="fp32", wandb=WandbConfig(mode="disabled"))


def losses(run_dir: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in map(json.loads, (run_dir / TRAIN_LOG).read_text().splitlines())]


def killed_then_resumed(model_cls, run_dir: Path, save_every: int, kill_after_batches: int):
    with contextlib.suppress(_Killed):
        Trainer(cfg(save_every), run_dir).fit(model_cls(), Points(kill_after=2 * kill_after_batches))
    checkpoint = last_checkpoint(run_dir)
    return Trainer(cfg(save_every), run_dir).fit(model_cls.from_checkpoint(checkpoint), Points(), checkpoint)


def test_resume_draws_the_same_random_numbers_and_logs_each_step_once(tmp_path):
    Trainer(cfg(2), tmp_path / "straight").fit(NoisyRegression(), Points())
    # Killed while loading batch 6: steps 1-5 are logged, the last checkpoint is step 4.
    resumed = killed_then_resumed(NoisyRegression, tmp_path / "split", save_every=2, kill_after_batches=5)
    assert resumed.start_step == 4
    # Starting the data loader used to draw from the global RNG after it was restored, shifting steps 5-6.
    assert losses(tmp_path / "split") == losses(tmp_path / "straight")


def test_rerun_of_a_finished_run_reports_its_last_loss(tmp_path):
    straight = Trainer(cfg(2), tmp_path).fit(NoisyRegression(), Points())
    checkpoint = last_checkpoint(tmp_path)
    again = Trainer(cfg(2), tmp_path).fit(NoisyRegression.from_checkpoint(checkpoint), Points(), checkpoint)
    assert (again.start_step, again.final_step) == (6, 6)
    assert again.last_loss == straight.last_loss  # was NaN: no step ran
    assert [s for s, _ in losses(tmp_path)] == [1, 2, 3, 4, 5, 6]


def test_learner_state_travels_with_the_checkpoint(tmp_path):
    Trainer(cfg(1), tmp_path / "straight").fit(ReusedNoise(), Points())
    # Killed while loading batch 4: the step-3 checkpoint is between the two uses of the noise drawn at step 3.
    resumed = killed_then_resumed(ReusedNoise, tmp_path / "split", save_every=1, kill_after_batches=3)
    assert resumed.start_step == 3
    assert losses(tmp_path / "split") == losses(tmp_path / "straight")
