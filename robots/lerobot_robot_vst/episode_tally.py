"""The episode record a simulated robot keeps while LeRobot's tools drive it, and its JSON summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class EpisodeResult:
    """One finished (or, at disconnect, interrupted) episode: its seed, policy steps and outcome."""

    seed: int
    steps: int
    success: bool
    finished: bool  # False: the rollout ended while this episode was still running


@dataclass
class EpisodeTally:
    """Episodes in order, plus the steps of the one running now."""

    episodes: list[EpisodeResult] = field(default_factory=list)
    policy_steps: int = 0  # every action the policy sent, over all episodes

    def record(self, result: EpisodeResult) -> None:
        self.episodes.append(result)

    def summary(self) -> dict:
        """Counts over finished episodes (interrupted ones are listed but not counted as failures)."""
        finished = [e for e in self.episodes if e.finished]
        successes = sum(e.success for e in finished)
        return {
            "episodes_finished": len(finished),
            "successes": successes,
            "success_rate": successes / len(finished) if finished else None,
            "policy_steps": self.policy_steps,
            "episodes": [asdict(e) for e in self.episodes],
        }

    def describe(self) -> str:
        s = self.summary()
        rate = "n/a" if s["success_rate"] is None else f"{100 * s['success_rate']:.1f}%"
        interrupted = len(self.episodes) - s["episodes_finished"]
        return (
            f"{s['episodes_finished']} episodes finished, {s['successes']} succeeded ({rate}); "
            f"{interrupted} interrupted; {s['policy_steps']} policy steps"
        )
