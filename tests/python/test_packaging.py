"""Packaging a newcomer relies on: a clean namespace, an ``info`` command
that says what is installed, metadata naming the tested Pythons, and no
script or document that lets pip fetch ``dftracer-utils`` from the public
index (that name there is upstream's package; README, "The distribution
name")."""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
from pathlib import Path
from typing import List

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.9 and 3.10
    tomllib = None

import dftracer.utils as dft
from dftracer.utils import _core

ROOT = Path(__file__).resolve().parents[2]


def test_dir_shows_only_all_and_the_public_submodules() -> None:
    import dftracer.utils.demo_traces  # noqa: F401  (a submodule appears once imported)

    submodules = {m.name for m in pkgutil.iter_modules(dft.__path__) if not m.name.startswith("_")}
    extra = set(dir(dft)) - set(dft.__all__)
    assert extra <= submodules and "demo_traces" in extra and "runtime" in extra
    assert set(dft.__all__) <= set(dir(dft))
    for leaked in ("Optional", "Path", "threading", "annotations", "List"):
        assert leaked not in dir(dft)


def test_every_name_in_all_exists() -> None:
    for name in dft.__all__:
        assert hasattr(dft, name), name


def test_info_says_which_implementation_version_and_where() -> None:
    proc = subprocess.run([sys.executable, "-m", "dftracer.utils", "info"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith(f"dftracer.utils {dft.__version__}\n")
    assert "implementation: dftracer.utils task runtime" in out
    assert f"distribution:   dftracer-utils {dft.__version__} in " in out and "MISMATCH" not in out
    assert f"location:       {Path(dft.__file__).resolve().parent}" in out
    assert f"build type:     {_core.build_type}" in out
    major, minor = _core.C_API_VERSION
    assert f"C ABI version:  {major}.{minor}" in out


def _pyprojects() -> List[Path]:
    return [ROOT / "pyproject.toml", ROOT / "tests/native_ext/pyproject.toml"]


def _requirements(text: str) -> List[str]:
    """build-system.requires, dependencies and every extra, as strings."""
    if tomllib is not None:
        data = tomllib.loads(text)
        reqs = list(data.get("build-system", {}).get("requires", []))
        project = data.get("project", {})
        reqs += project.get("dependencies", [])
        for extra in project.get("optional-dependencies", {}).values():
            reqs += extra
        return reqs
    # Coarse on 3.9/3.10 (no tomllib): every quoted string but the project's own name.
    return re.findall(r'"([^"]+)"', "\n".join(line for line in text.splitlines() if not line.startswith("name =")))


def test_no_pyproject_asks_the_index_for_dftracer_utils() -> None:
    for path in _pyprojects():
        for req in _requirements(path.read_text()):
            assert not re.match(r"dftracer[-_.]utils\b", req, re.I), f"{path}: {req!r} would resolve upstream's package"


def _pip_install_lines() -> List[str]:
    files = [*sorted((ROOT / "scripts").glob("*.sh")), ROOT / ".ci/run", ROOT / "README.md"]
    files += sorted((ROOT / "docs").glob("*.md"))
    lines = []
    for f in files:
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if line.lstrip().startswith(("log ", "echo ", "#")):  # messages, not commands
                continue
            if re.search(r"pip(\"|\s)+(-m\s+pip\s+)?(-\w+\s+)*install\b", line) or "pip wheel" in line:
                lines.append(f"{f.relative_to(ROOT)}:{n}: {line.strip()}")
    return lines


def test_scripts_and_docs_never_resolve_dftracer_utils_from_the_index() -> None:
    lines = _pip_install_lines()
    assert lines, "no pip install line found: the scan is broken"
    for line in lines:
        code = line.split(": ", 1)[1]
        names_us = re.search(r"\bdftracer[-_]utils\b(?!\.)", code) and "dftracer-utils on PyPI" not in code
        builds_a_path = re.search(r"install[^#`]*\s(\"?\.(\[|\"|\s|$)|\S*DFTRACER_ROOT|tests/native_ext)", code)
        if names_us and not line.lstrip().startswith("(Never"):
            assert "--no-index" in code or "Never" in code, f"{line}: resolves dftracer-utils from the index"
        if builds_a_path or "pip wheel" in code:
            assert "--no-build-isolation" in code, (
                f"{line}: an isolated build resolves build requirements from the index"
            )


def test_metadata_names_the_tested_pythons_and_ships_the_license() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    for minor in range(9, 14):
        assert f'"Programming Language :: Python :: 3.{minor}"' in text
    assert 'requires-python = ">=3.9"' in text
    assert 'wheel.license-files = ["LICENSE"]' in text
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "[project.urls]" in text


def test_the_cmake_root_entry_point_loads_no_engine_and_locates_the_config() -> None:
    # What scikit-build-core does in every build in this environment (it
    # failed on Python 3.9 while the entry point named a namespace package).
    code = """
import importlib.metadata as m, importlib.resources as r, sys
eps = m.entry_points()
eps = eps.select(group="cmake.root") if hasattr(eps, "select") else eps.get("cmake.root", [])
(ep,) = [e for e in eps if e.name == "DFTracerUtils"]
folder = r.files(ep.load())
assert (folder / "DFTracerUtilsConfig.cmake").is_file(), folder
assert "dftracer.utils" not in sys.modules, "loading the entry point imported the engine"
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr
