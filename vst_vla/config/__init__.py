"""Typed configuration: dataclass schemas that hydra fills and the library receives."""

from pathlib import Path

# The hydra config tree (configs/ at the repository root). Absolute, because hydra reads a relative config_path
# as a package ("pkg://configs") whenever main is imported rather than run as __main__ (console scripts,
# vst_vla.cli), and configs/ is not a package.
HYDRA_CONFIG_DIR = str(Path(__file__).resolve().parent.parent.parent / "configs")
