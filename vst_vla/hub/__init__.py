"""Publishing on the Hugging Face Hub: checkpoints of every stage and collected datasets, each with its card.

Off by default (``hub.push=false``) and offline-safe: nothing here touches the network at import, while building a
payload or a card, or when pushing is off. See ``docs/hub.md``.

- :mod:`~vst_vla.hub.config`: ``HubConfig``, the ``hub.*`` options.
- :mod:`~vst_vla.hub.reachability`: refuse a push that cannot happen, before any work starts.
- :mod:`~vst_vla.hub.command`: the exact command behind a run or dataset, stored beside it.
- :mod:`~vst_vla.hub.runs`, :mod:`~vst_vla.hub.cards`, :mod:`~vst_vla.hub.payload`: read a run, write its card,
  lay out the files to upload.
- :mod:`~vst_vla.hub.push`: the upload (the one network step) and ``python -m vst_vla.hub.push``.
"""

from vst_vla.hub.config import HubConfig

__all__ = ["HubConfig"]
