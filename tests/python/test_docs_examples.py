"""Every code block of README.md and docs/*.md runs as written, or says why not.

The rules (docs/index.md repeats them for writers):

- A ```python block runs as a script of its own in a fresh interpreter
  (some start a LocalCluster, which needs a ``__main__`` guard).
- A ```sh / ```bash block runs in bash (``set -euo pipefail``) from the
  repository root, with this interpreter first on PATH as ``python``.
- A block preceded by ``<!-- not run: REASON -->`` is skipped; the reason is
  required (it needs a scheduler at an address, it is a fragment, it builds
  for minutes and scripts/test.sh runs it).
- A block preceded by ``<!-- file: PATH -->`` must be the repository file
  PATH exactly (so a guide that shows tests/native_ext in full stays true).
- A block preceded by ``<!-- compiled: PATH -->`` is compiled by the C++
  test PATH (it is extracted at configure time, see tests/cpp/CMakeLists.txt).
- Any other block (C++, CMake, TOML without a marker) fails this test.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
_OPEN = re.compile(r"^```(\w*)\s*$")
_MARKER = re.compile(r"^<!--\s*(not run|file|compiled):\s*(.*?)\s*-->\s*$")
RUNS = {"python": "python", "sh": "shell", "bash": "shell"}


@dataclass
class Block:
    doc: str
    line: int  # first line of the code, 1-based
    lang: str
    source: str
    marker: Optional[str]  # "not run", "file", "compiled" or None
    argument: str

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def _blocks() -> List[Block]:
    found = []
    for doc in DOCUMENTS:
        lines = (ROOT / doc).read_text().splitlines()
        i = 0
        while i < len(lines):
            m = _OPEN.match(lines[i])
            if m:
                end = i + 1
                while not lines[end].startswith("```"):
                    end += 1
                marker = _MARKER.match(lines[i - 1]) if i > 0 else None
                found.append(
                    Block(
                        doc,
                        i + 2,
                        m.group(1),
                        "".join(line + "\n" for line in lines[i + 1 : end]),
                        marker.group(1) if marker else None,
                        marker.group(2) if marker else "",
                    )
                )
                i = end
            i += 1
    return found


BLOCKS = _blocks()


def test_every_document_is_covered_and_has_blocks() -> None:
    docs_with_blocks = {b.doc for b in BLOCKS}
    for doc in ["README.md", "docs/native-extensions.md", "docs/large-jobs.md", "docs/dask.md"]:
        assert doc in docs_with_blocks


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.marker is None], ids=lambda b: b.id)
def test_unmarked_blocks_are_runnable(block: Block) -> None:
    assert block.lang in RUNS, (
        f"{block.id}: a ```{block.lang or '(no language)'} block needs a marker on the line before it: "
        "<!-- not run: why -->, <!-- file: path -->, or <!-- compiled: path -->"
    )


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.marker == "not run"], ids=lambda b: b.id)
def test_not_run_blocks_say_why(block: Block) -> None:
    assert len(block.argument) >= 8, f"{block.id}: <!-- not run: ... --> needs a reason"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.marker == "file"], ids=lambda b: b.id)
def test_file_blocks_are_the_file_exactly(block: Block) -> None:
    path = ROOT / block.argument
    assert path.is_file(), f"{block.id}: no file {block.argument}"
    assert block.source == path.read_text(), f"{block.id}: differs from {block.argument}; paste the file again"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.marker == "compiled"], ids=lambda b: b.id)
def test_compiled_blocks_are_extracted_by_the_cpp_tests(block: Block) -> None:
    assert (ROOT / block.argument).is_file(), f"{block.id}: no file {block.argument}"
    assert "docs-example: begin" in block.source and "docs-example: end" in block.source
    assert block.doc in (ROOT / "tests/cpp/CMakeLists.txt").read_text()


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.marker is None and RUNS.get(b.lang) == "python"], ids=lambda b: b.id
)
def test_python_block_runs(block: Block, tmp_path: Path) -> None:
    if ("distributed" in block.source or "dask" in block.source) and importlib.util.find_spec("distributed") is None:
        pytest.skip("needs the dask extra")
    script = tmp_path / "example.py"
    script.write_text(block.source)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"{block.id} failed\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.marker is None and RUNS.get(b.lang) == "shell"], ids=lambda b: b.id
)
def test_shell_block_runs(block: Block) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + block.source],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"{block.id} failed\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
