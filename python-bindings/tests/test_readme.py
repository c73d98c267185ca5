"""The README example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest


def readme_blocks() -> list[str]:
    """The ```python blocks of the README, in order."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", readme, re.DOTALL)


def test_readme_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = readme_blocks()
    assert blocks
    exec(compile(blocks[0], "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "sensors/42/temperature b'21.5'",
        "devices/42/status b'offline'",
    ]


def test_readme_listen_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    (block,) = [b for b in readme_blocks() if "broker.listen(" in b]
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert re.fullmatch(r"MQTT clients can connect to mqtt://127\.0\.0\.1:\d+", out[0])
    assert out[1] == "0"


def test_readme_durable_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    (block,) = [b for b in readme_blocks() if "persistence=store" in b]
    exec(compile(block, "README.md", "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["alerts/smoke b'kitchen' True"]


def test_help_reads_well() -> None:
    import mqlite

    assert "Connects a client" in (mqlite.Broker.connect.__doc__ or "")
    assert mqlite.Client.__doc__
    signature = getattr(mqlite.Client.recv, "__text_signature__", None)
    assert signature == "($self, timeout=None)"
