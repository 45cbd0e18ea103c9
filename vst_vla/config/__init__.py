"""Typed configuration: dataclass schemas that hydra fills and the library receives."""

from pathlib import Path

# Where the packaged copy of configs/ lives inside an installed wheel (pyproject: hatch force-include).
PACKAGED_CONFIGS = "_configs"


def hydra_config_dir(package_dir: Path | None = None) -> Path:
    """The hydra config tree: the checkout's ``configs/`` when running from a checkout, else the wheel's copy.

    ``configs/`` at the repository root is the source of truth; a built wheel carries a copy as
    ``vst_vla/_configs`` (a wheel has no repository root, and site-packages/configs would be anyone's). A checkout
    is recognised by its ``pyproject.toml`` next to ``configs/``, so a stray ``configs`` folder beside an installed
    package is never taken for ours.

    Args:
        package_dir: the ``vst_vla`` package directory (default: this installation's); a parameter for tests.
    Returns:
        The absolute directory to give hydra as ``config_path``. Absolute, because hydra reads a relative
        ``config_path`` as a package ("pkg://configs") whenever main is imported rather than run as ``__main__``
        (console scripts, ``vst_vla.cli``).
    Raises:
        FileNotFoundError: naming both places when neither holds the configs (a broken install).
    """
    package_dir = (package_dir or Path(__file__).resolve().parent.parent).resolve()
    root = package_dir.parent
    checkout = root / "configs"
    if (root / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    packaged = package_dir / PACKAGED_CONFIGS
    if packaged.is_dir():
        return packaged
    raise FileNotFoundError(f"vst_vla's hydra configs are neither in a checkout ({checkout}) nor in the installed "
                            f"package ({packaged}); reinstall vst-vla")


HYDRA_CONFIG_DIR = str(hydra_config_dir())
