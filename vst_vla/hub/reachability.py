"""Refuse a push that cannot happen before any work starts: offline mode, an unreachable Hub, no token.

A run that trains for hours and then fails to upload wastes the hours' bookkeeping, not the weights (the run
directory stays complete and :mod:`vst_vla.hub.push` can upload it later), but the user asked for a push and
should learn at once that it will not happen. Nothing here runs when ``hub.push`` is false.
"""

from __future__ import annotations

import logging
import os

from vst_vla.errors import UserError
from vst_vla.hub.config import HubConfig

logger = logging.getLogger(__name__)

REACHABILITY_TIMEOUT_S = 5.0
_TRUE = {"1", "on", "yes", "true"}


class HubUnavailableError(UserError, RuntimeError):
    """``hub.push=true`` but the Hub cannot be used from here; the message says which option to change."""


def hub_endpoint() -> str:
    """The Hub endpoint this process talks to (``HF_ENDPOINT`` as set now, else huggingface_hub's default)."""
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or constants.ENDPOINT


def offline_reason() -> str | None:
    """Why the Hub is switched off in this process (``HF_HUB_OFFLINE=1`` and the like), or None."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(name, "").strip().lower() in _TRUE:
            return f"{name}={os.environ[name]}"
    from huggingface_hub import is_offline_mode

    # Set at huggingface_hub's import from the environment of that moment.
    return "huggingface_hub reports offline mode" if is_offline_mode() else None


def unreachable_reason(endpoint: str, timeout_s: float = REACHABILITY_TIMEOUT_S) -> str | None:
    """One HEAD request to ``endpoint`` (proxies from the environment apply); the error if it fails, else None."""
    import httpx

    try:
        httpx.head(endpoint, timeout=timeout_s, follow_redirects=False)
    except (httpx.HTTPError, OSError) as err:
        return f"{endpoint}: {type(err).__name__}: {err}"
    return None


def check_can_push(hub: HubConfig, action: str = "hub.push=true", undo: str = "set hub.push=false") -> None:
    """Return when ``hub.push`` is off or the push can happen; raise :class:`HubUnavailableError` otherwise.

    Checked in this order, cheapest first: offline mode, a quick reachability request to the endpoint, a token.
    ``action`` and ``undo`` word the message for the caller: what asked for the push, and how not to push.
    """
    if not hub.push:
        return
    reason = offline_reason()
    if reason is None:
        reason = unreachable_reason(hub_endpoint())
    if reason is not None:
        raise HubUnavailableError(f"{action} but the Hugging Face Hub is unreachable ({reason}); {undo} or go online")
    from huggingface_hub import get_token

    if get_token() is None:
        raise HubUnavailableError(f"{action} but no Hugging Face token was found; run `hf auth login` or set "
                                  f"HF_TOKEN to a token with write access, or {undo}")
    logger.info("%s: %s is reachable; %s will be pushed at the end", action, hub_endpoint(), hub.repo_id)
