"""Packages depend in one direction and declare what they import; the wheel carries the hydra configs.

Static checks of the source tree (no import of torch or a simulator): the simulation package ``vst_envs`` imports
no other package of the project, every workspace member's pyproject.toml declares the distributions its code
imports, the root declares nothing it never imports, and ``hydra_config_dir`` finds a checkout's configs/ or the
wheel's packaged copy.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

from vst_vla.config import PACKAGED_CONFIGS, hydra_config_dir

ROOT = Path(__file__).resolve().parents[1]

# Each workspace member: its pyproject.toml and the package folders its distribution ships.
MEMBERS: dict[str, tuple[Path, tuple[Path, ...]]] = {
    "vst-vla": (ROOT / "pyproject.toml", (ROOT / "vst_vla", ROOT / "envs" / "vst_envs")),
    "lerobot_policy_vst_vla": (ROOT / "policies" / "pyproject.toml",
                               (ROOT / "policies" / "lerobot_policy_vst_vla",)),
    "lerobot_env_vst": (ROOT / "envs" / "pyproject.toml", (ROOT / "envs" / "lerobot_env_vst",)),
    "lerobot_robot_vst": (ROOT / "robots" / "pyproject.toml", (ROOT / "robots" / "lerobot_robot_vst",)),
}
# Top-level modules of the workspace's own distributions (editable installs do not record them).
OWN_MODULES = {
    "vst_vla": "vst-vla",
    "vst_envs": "vst-vla",
    "lerobot_policy_vst_vla": "lerobot_policy_vst_vla",
    "lerobot_env_vst": "lerobot_env_vst",
    "lerobot_robot_vst": "lerobot_robot_vst",
}
# Root dependencies that no module imports, each with the reason it is declared.
DECLARED_NOT_IMPORTED = {
    "torchvision": "transformers' Qwen2VLImageProcessor is torchvision-backed; pinned as torch's paired release",
    "lerobot-env-vst": "the LeRobot plugins install with the library",
    "lerobot-policy-vst-vla": "the LeRobot plugins install with the library",
    "lerobot-robot-vst": "the LeRobot plugins install with the library",
}
# Imports of a plugin by the library, each with the reason it is still there.
LIBRARY_IMPORTS_OF_PLUGINS: dict[tuple[str, str], str] = {}


def _imports(folder: Path) -> dict[str, set[str]]:
    """Top-level module name -> the files (relative to the repository) under ``folder`` that import it, at any depth
    of the file (a function-level import counts: it hides a dependency, not removes it)."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(pyproject: Path) -> set[str]:
    deps = tomllib.loads(pyproject.read_text())["project"].get("dependencies", [])
    return {_normalize(re.match(r"[A-Za-z0-9_.-]+", dep).group(0)) for dep in deps}


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _distribution(module: str) -> str:
    if module in OWN_MODULES:
        return _normalize(OWN_MODULES[module])
    dists = _packages_distributions().get(module)
    assert dists, f"module {module!r} belongs to no installed distribution"
    return _normalize(dists[0])


def _third_party_imports(distribution: str) -> dict[str, set[str]]:
    """Distribution name -> files, for everything the member's packages import outside the standard library."""
    out: dict[str, set[str]] = {}
    for folder in MEMBERS[distribution][1]:
        for module, files in _imports(folder).items():
            if module in sys.stdlib_module_names or module == "__future__":
                continue
            dist = _distribution(module)
            if dist != _normalize(distribution):
                out.setdefault(dist, set()).update(files)
    return out


def test_the_simulation_package_imports_no_other_package_of_the_project() -> None:
    imports = _imports(ROOT / "envs" / "vst_envs")
    offending = {m: sorted(files) for m, files in imports.items() if m in OWN_MODULES and m != "vst_envs"}
    assert not offending, f"vst_envs must depend on no other package of the project: {offending}"


def test_the_library_imports_a_plugin_only_where_listed() -> None:
    plugins = {m for m in OWN_MODULES if m.startswith("lerobot_")}
    found = {(f, m) for m, files in _imports(ROOT / "vst_vla").items() if m in plugins for f in files}
    assert found == set(LIBRARY_IMPORTS_OF_PLUGINS), (
        "the library (vst_vla) depends on no plugin; a new import of one is a cycle (fix it), and a removed one "
        f"comes off LIBRARY_IMPORTS_OF_PLUGINS: {sorted(found ^ set(LIBRARY_IMPORTS_OF_PLUGINS))}"
    )


@pytest.mark.parametrize("distribution", sorted(MEMBERS))
def test_each_member_declares_what_it_imports(distribution: str) -> None:
    declared = _declared(MEMBERS[distribution][0])
    missing = {dist: sorted(files) for dist, files in _third_party_imports(distribution).items()
               if dist not in declared}
    assert not missing, f"{MEMBERS[distribution][0].relative_to(ROOT)} does not declare {missing}"


def test_the_root_declares_nothing_it_never_imports() -> None:
    imported = set(_third_party_imports("vst-vla"))
    unused = _declared(MEMBERS["vst-vla"][0]) - imported - {_normalize(d) for d in DECLARED_NOT_IMPORTED}
    assert not unused, f"pyproject.toml declares {sorted(unused)}, which nothing in vst_vla/ or envs/vst_envs/ " \
                       "imports: drop them (a test-only import belongs in the dev group)"


def test_every_member_declares_the_licence_that_LICENSE_holds() -> None:
    assert "Apache License" in (ROOT / "LICENSE").read_text().splitlines()[0]
    for pyproject, _ in MEMBERS.values():
        assert tomllib.loads(pyproject.read_text())["project"]["license"] == "Apache-2.0", pyproject


def test_the_wheel_carries_configs_where_the_lookup_finds_them() -> None:
    hatch = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert hatch["force-include"] == {"configs": f"vst_vla/{PACKAGED_CONFIGS}"}


def _fake_install(base: Path, checkout: bool, packaged: bool, stray_configs: bool = False) -> Path:
    package = base / "vst_vla"
    package.mkdir(parents=True)
    if checkout:
        (base / "pyproject.toml").write_text("")
    if checkout or stray_configs:
        (base / "configs").mkdir()
    if packaged:
        (package / PACKAGED_CONFIGS).mkdir()
    return package


def test_config_dir_is_the_checkouts_configs_when_there_is_a_checkout(tmp_path: Path) -> None:
    package = _fake_install(tmp_path, checkout=True, packaged=True)
    assert hydra_config_dir(package) == tmp_path / "configs"
    assert hydra_config_dir() == ROOT / "configs"  # this test run is from a checkout


def test_config_dir_is_the_packaged_copy_in_an_installed_wheel(tmp_path: Path) -> None:
    # site-packages: no pyproject.toml; a "configs" folder there belongs to some other distribution.
    package = _fake_install(tmp_path, checkout=False, packaged=True, stray_configs=True)
    assert hydra_config_dir(package) == package / PACKAGED_CONFIGS


def test_config_dir_names_both_places_when_neither_exists(tmp_path: Path) -> None:
    package = _fake_install(tmp_path, checkout=False, packaged=False)
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'configs'}.*{package / PACKAGED_CONFIGS}"):
        hydra_config_dir(package)
