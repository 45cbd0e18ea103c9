"""Typed configuration: dataclass schemas that hydra fills and the library receives."""
