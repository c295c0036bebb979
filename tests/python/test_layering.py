"""The C++ tree's dependency order (docs/design.md, "Layers"): every
`#include` of a project header in cpp/ goes to the same layer or one below,
the engine never includes Python, and nothing outside the bindings includes
them. Reads the sources only; fails naming each offending include."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[2]
CPP = ROOT / "cpp"
CORE = "dftracer/utils/core/"

# Layer of each public core header (by stem); core/detail/ is layer 0 and
# cpp/src/<stem>.cpp takes the layer of its header.
CORE_LAYERS: Dict[str, int] = {
    # 0: primitives and leaves
    "errors": 0,
    "durations": 0,
    "runtime_defaults": 0,
    "task_status": 0,
    # 1: coroutines
    "task": 1,
    # 2: the executor
    "executor": 2,
    # 3: tasks and what runs inside them
    "task_host": 3,
    "task_state": 3,
    "task_kinds": 3,
    "task_handle": 3,
    "fork_join": 3,
    "when_any": 3,
    "channel": 3,
    "async_semaphore": 3,
    "async_mutex": 3,
    "parallel_for": 3,
    "parallel_reduce": 3,
    "task_scope": 3,
    # 4: the runtime
    "registry": 4,
    "watchdog": 4,
    "runtime": 4,
    "pool_hop": 4,
    "sync_wait": 4,
    "tracer": 4,
    "task_dump": 4,
}
# Sources with no header of their own: part of another header's class.
SOURCE_ONLY_LAYERS: Dict[str, int] = {
    "runtime_trace": 4,  # Runtime's tracing and task dumps (runtime.hpp)
}
# Internals (core/detail/) are layer 0 except those that serve a higher one.
DETAIL_LAYERS: Dict[str, int] = {
    "waiter_queue": 3,  # suspends coroutines on an executor
    "detached": 3,  # a coroutine that owns its task
    "completion_queue": 3,  # watches TaskStates
}
C_ABI_LAYER = 5
BINDINGS_LAYER = 6
UMBRELLA_LAYER = 5  # dftracer/utils/all.hpp: everything of the core

INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)


def layer_of_path(path: Path) -> int:
    rel = path.relative_to(CPP).as_posix()
    if rel.startswith("python/"):
        return BINDINGS_LAYER
    if rel.endswith(("c_api.h", "c_api.hpp")):
        return C_ABI_LAYER
    if rel.endswith("dftracer/utils/all.hpp"):
        return UMBRELLA_LAYER
    stem = path.stem
    if "/core/detail/" in rel:
        return DETAIL_LAYERS.get(stem, 0)
    if rel.startswith("src/"):
        detail = CPP / "include" / "dftracer" / "utils" / "core" / "detail" / f"{stem}.hpp"
        if detail.exists():
            return DETAIL_LAYERS.get(stem, 0)
    if rel.startswith("src/") and stem in SOURCE_ONLY_LAYERS:
        return SOURCE_ONLY_LAYERS[stem]
    if stem not in CORE_LAYERS:
        raise AssertionError(f"{rel}: not placed in a layer (add it to CORE_LAYERS and docs/design.md)")
    return CORE_LAYERS[stem]


def layer_of_include(name: str) -> Optional[int]:
    """Layer of an included project header, None for a system header."""
    if name.startswith(CORE + "detail/"):
        return DETAIL_LAYERS.get(Path(name).stem, 0)
    if name.startswith(CORE):
        stem = Path(name).stem
        assert stem in CORE_LAYERS, f"{name}: not placed in a layer"
        return CORE_LAYERS[stem]
    if name in ("dftracer/utils/c_api.h", "dftracer/utils/c_api.hpp"):
        return C_ABI_LAYER
    if name == "dftracer/utils/all.hpp":
        return UMBRELLA_LAYER
    if not name.startswith(("dftracer/", "pybind11/", "Python.h")) and name.endswith(".hpp"):
        return BINDINGS_LAYER  # a binding's own header, by its bare name
    return None


def sources() -> List[Path]:
    return sorted(p for p in CPP.rglob("*") if p.suffix in (".hpp", ".cpp", ".h"))


def test_every_include_goes_down_or_sideways() -> None:
    wrong = []
    for path in sources():
        mine = layer_of_path(path)
        for name in INCLUDE.findall(path.read_text()):
            theirs = layer_of_include(name)
            if theirs is not None and theirs > mine:
                wrong.append(f"{path.relative_to(ROOT)} (layer {mine}) includes {name} (layer {theirs})")
    assert not wrong, "includes that go up a layer:\n" + "\n".join(wrong)


def test_the_engine_never_includes_python() -> None:
    wrong = []
    for path in sources():
        if layer_of_path(path) >= C_ABI_LAYER:  # the C ABI serves Python extensions
            continue
        for name in INCLUDE.findall(path.read_text()):
            if name.startswith("pybind11/") or name == "Python.h":
                wrong.append(f"{path.relative_to(ROOT)} includes {name}")
    assert not wrong, "\n".join(wrong)


def test_every_core_header_is_placed_and_in_the_umbrella() -> None:
    core = CPP / "include" / "dftracer" / "utils" / "core"
    public = {p.stem for p in core.glob("*.hpp")}
    assert public == set(CORE_LAYERS), f"unplaced: {public - set(CORE_LAYERS)}, gone: {set(CORE_LAYERS) - public}"
    umbrella = (CPP / "include" / "dftracer" / "utils" / "all.hpp").read_text()
    missing = [
        s
        for s in public
        if s not in ("task_host", "task_kinds", "task_status", "runtime_defaults") and f"{CORE}{s}.hpp" not in umbrella
    ]
    assert not missing, f"public headers all.hpp leaves out: {missing}"
