"""What ``hub.*`` on a command line says: whether, where and how to publish a run or a dataset on the Hub.

Pushing is off unless asked for. The config is plain data: building it never touches the network; whether the
Hub can be reached is checked once, before any work starts (:func:`vst_vla.hub.reachability.check_can_push`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The Hub's own rule for a repo id: "<owner>/<name>", letters, digits, '-', '_' and '.', at most 96 characters.
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


def is_hub_repo_id(text: str | None) -> bool:
    """True when ``text`` reads as a Hub repo id (``owner/name``), e.g. to tell one from a local path."""
    return bool(text) and bool(_REPO_ID.match(text)) and ".." not in text and not text.endswith(".")


@dataclass(frozen=True)
class HubConfig:
    """Publishing a finished run (its final checkpoint) or a collected dataset on the Hugging Face Hub.

    Attributes:
        push: upload at the end of the run / collection. Off by default; when on, an unreachable Hub or a missing
            token stops the command before any work starts.
        repo_id: ``owner/name`` of the model or dataset repository (created when missing).
        private: create the repository private (an existing repository keeps its visibility).
        license: Hub licence identifier written to the card, e.g. ``apache-2.0``.
        base_model: Hub id of the VLM the run started from, for the card's ``base_model`` (default: the run's
            ``model.pretrained_path`` when that is a Hub id or a Hub cache folder).
    """

    push: bool = False
    repo_id: str | None = None
    private: bool = True
    license: str = "apache-2.0"
    base_model: str | None = None

    def __post_init__(self) -> None:
        for name in ("push", "private"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"hub.{name} must be true or false, got {getattr(self, name)!r}")
        if self.repo_id is not None and not is_hub_repo_id(self.repo_id):
            raise ValueError(f"hub.repo_id must read <owner>/<name> (e.g. hub.repo_id=alice/vst_lift), "
                             f"got {self.repo_id!r}")
        if self.push and self.repo_id is None:
            raise ValueError("hub.push=true needs hub.repo_id=<owner>/<name> (the repository to create or update); "
                             "set it or set hub.push=false")
        if not isinstance(self.license, str) or not self.license.strip():
            raise ValueError(f"hub.license must be a Hub licence identifier such as apache-2.0, got {self.license!r}")
        if self.base_model is not None and not is_hub_repo_id(self.base_model):
            raise ValueError(f"hub.base_model must be a Hub id <owner>/<name> or null, got {self.base_model!r}")
