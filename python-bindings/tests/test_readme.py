"""The README example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest


def test_readme_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    assert blocks
    exec(compile(blocks[0], "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "sensors/42/temperature b'21.5'",
        "devices/42/status b'offline'",
    ]


def test_help_reads_well() -> None:
    import mqlite

    assert "Connects a client" in (mqlite.Broker.connect.__doc__ or "")
    assert mqlite.Client.__doc__
    signature = getattr(mqlite.Client.recv, "__text_signature__", None)
    assert signature == "($self, timeout=None)"
