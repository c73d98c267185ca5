"""The pytest plugin `mqlite.testing`: registered through the `pytest11` entry point, its
`mqlite_broker` fixture gives each test a fresh broker listening on loopback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _net import connect, publish

import mqlite
import mqlite.testing
from mqlite.testing import RunningBroker

pytest_plugins = ["pytester"]

README = Path(__file__).parent.parent / "README.md"


def readme_plugin_example() -> str:
    """The README's example test of the plugin (the ```python block that uses it)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    (example,) = [b for b in blocks if "def test_" in b and "mqlite_broker" in b]
    return str(example)


def test_plugin_is_registered_through_its_entry_point(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.get_plugin("mqlite") is mqlite.testing


def test_mqlite_broker_listens_on_loopback(mqlite_broker: RunningBroker) -> None:
    assert isinstance(mqlite_broker.broker, mqlite.Broker)
    assert mqlite_broker.host == "127.0.0.1"
    assert mqlite_broker.address == (mqlite_broker.host, mqlite_broker.port)
    assert mqlite_broker.url == f"mqtt://127.0.0.1:{mqlite_broker.port}"
    assert repr(mqlite_broker) == f"RunningBroker(url='{mqlite_broker.url}')"
    dashboard = mqlite_broker.connect("dashboard", auto_ack=True)
    dashboard.subscribe("sensors/#", qos=1)
    with connect(mqlite_broker.address, "device") as device:
        publish(device, "sensors/1", b"21.5")
        assert dashboard.recv(timeout=5).payload == b"21.5"


@pytest.mark.parametrize("mqlite_config", [mqlite.Config(max_payload_size=4)])
def test_mqlite_config_sets_the_brokers_limits(mqlite_broker: RunningBroker) -> None:
    with pytest.raises(mqlite.PayloadTooLarge):
        mqlite_broker.connect("c").publish("t", b"12345")


def test_readme_example_passes_in_a_fresh_pytest_run(pytester: pytest.Pytester) -> None:
    """The plugin is found by pytest alone (no import, no conftest), and the README's
    example test passes as written."""
    pytest.importorskip("paho.mqtt", reason="needs paho-mqtt: pip install paho-mqtt==2.1.0")
    pytester.makepyfile(test_readme_example=readme_plugin_example())
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_broker_is_shut_down_after_each_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_teardown="""
        seen = []

        def test_first(mqlite_broker):
            seen.append(mqlite_broker)

        def test_second(mqlite_broker):
            (first,) = seen
            assert first.broker.is_closed and first.server.is_closed
            assert not mqlite_broker.broker.is_closed
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
