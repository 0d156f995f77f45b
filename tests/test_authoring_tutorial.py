"""docs/authoring.md is executed: its files are written and its commands run, in order."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

BLOCK = re.compile(r"(?:<!-- file: (?P<file>\S+) -->\n)?```(?P<lang>\w+)\n(?P<body>.*?)```\n"
                   r"(?P<notes>(?:<!-- (?:exit|expect): .*? -->\n)*)", re.S)


def test_authoring_tutorial_runs(tmp_path: Path) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    search = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "HOME": str(tmp_path), "PATH": search}
    text = (ROOT / "docs" / "authoring.md").read_text()
    commands = 0
    for block in BLOCK.finditer(text):
        if block["file"]:
            path = tmp_path / block["file"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block["body"])
            continue
        if block["lang"] != "sh":
            continue
        notes = block["notes"]
        exit_code = int(m.group(1)) if (m := re.search(r"<!-- exit: (\d+) -->", notes)) else 0
        output = ""
        lines = block["body"].strip().splitlines()
        for i, line in enumerate(lines):
            proc = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True,
                                  timeout=120)
            output += proc.stdout + proc.stderr
            expected = exit_code if i == len(lines) - 1 else 0
            assert proc.returncode == expected, f"`{line}` exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
            commands += 1
        for expect in re.findall(r"<!-- expect: (.*?) -->", notes):
            assert expect in output, f"{expect!r} not in the output of:\n{block['body']}\n---\n{output}"
    assert commands >= 10
