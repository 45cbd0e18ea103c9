"""The env registry: maps an env ``type`` name (as saved in configs and checkpoint metadata) to its config class."""

from __future__ import annotations

from vst_vla.registry import Registry

ENVS: Registry[type] = Registry("env")
