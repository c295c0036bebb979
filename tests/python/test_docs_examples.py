"""The Python code blocks of the README and docs/ run as written.

Each block runs as a script of its own in a fresh interpreter (some start a
LocalCluster, which needs a ``__main__`` guard and re-imports the script).
A block preceded by an ``<!-- not run: reason -->`` line is skipped: it
needs something a test machine lacks (a scheduler address) or is a
fragment."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
# docs/native-extensions.md holds fragments of an extension (built in tests/native_ext).
DOCUMENTS = ["README.md", "docs/logging.md", "docs/progress.md", "docs/dask.md", "docs/tracing.md"]
_FENCE = re.compile(r"^```python\s*$")


def _blocks() -> List[Tuple[str, int, str, bool]]:
    """(document, first line, source, runs) for every ```python block."""
    found = []
    for doc in DOCUMENTS:
        lines = (ROOT / doc).read_text().splitlines()
        i = 0
        while i < len(lines):
            if _FENCE.match(lines[i]):
                start = i + 1
                end = start
                while not lines[end].startswith("```"):
                    end += 1
                runs = not (i > 0 and lines[i - 1].strip().startswith("<!-- not run"))
                found.append((doc, start + 1, "\n".join(lines[start:end]) + "\n", runs))
                i = end
            i += 1
    return found


BLOCKS = _blocks()


def test_the_documents_have_runnable_blocks() -> None:
    runnable = {doc for doc, _, _, runs in BLOCKS if runs}
    assert {"README.md", "docs/logging.md", "docs/progress.md", "docs/dask.md"} <= runnable


@pytest.mark.parametrize(
    "doc, line, source",
    [pytest.param(doc, line, source, id=f"{doc}:{line}") for doc, line, source, runs in BLOCKS if runs],
)
def test_code_block_runs(doc: str, line: int, source: str, tmp_path: Path) -> None:
    if ("distributed" in source or "dask" in source) and importlib.util.find_spec("distributed") is None:
        pytest.skip("needs the dask extra")
    script = tmp_path / "example.py"
    script.write_text(source)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"{doc}:{line} failed\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
