"""The README's "Millions of files" example runs as written, in a fresh
interpreter (so a broken example fails the suite)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _section_code(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    blocks = re.findall(r"```python\n(.*?)```", text[start : end if end != -1 else None], flags=re.S)
    assert blocks, f"no python block under '## {title}'"
    return str(blocks[0])


def test_millions_of_files_example_runs_as_written(python_script):
    proc = python_script(_section_code("Millions of files"), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "2000 files, 0 failed"
    assert "\r" not in proc.stderr  # not a terminal: whole progress lines only
