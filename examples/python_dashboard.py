"""A Python dashboard on the in-process bindings while a paho-mqtt device publishes over TCP.

The broker runs inside this process. The dashboard is an in-process client of it (no
socket); the device is a paho-mqtt client connected over the network to `broker.listen()`,
as a real device would be. The device announces itself (a retained `online`, with a retained
`offline` as its will), sends temperature readings with an MQTT 5 user property, takes a
command from the dashboard, then loses power: its socket dies without a DISCONNECT, so the
broker publishes its will. Ends by itself within seconds; exits 1 if a message is missing.

Run: `pip install ./python-bindings paho-mqtt` then `python examples/python_dashboard.py`
"""

from __future__ import annotations

import queue
import socket
import sys
import threading

import mqlite

try:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
except ModuleNotFoundError:
    sys.exit("python_dashboard needs paho-mqtt: pip install paho-mqtt")

WAIT = 5.0  # seconds any step may take before the example gives up
READINGS = ["21.5", "21.9", "22.4"]
THRESHOLD = 22.0


def start_device(address: tuple[str, int], commands: queue.Queue[str]) -> mqtt.Client:
    """Connects device-7 over TCP with its will, subscribes to its command topic and
    announces itself. Commands it receives go to `commands`."""
    device = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id="device-7",
        protocol=MQTTProtocolVersion.MQTTv5,
        reconnect_on_failure=False,
    )
    device.will_set("devices/7/status", b"offline", qos=1, retain=True)
    subscribed = threading.Event()
    device.on_subscribe = lambda *_: subscribed.set()
    device.on_message = lambda _c, _u, msg: commands.put(f"{msg.topic} = {msg.payload.decode()}")
    device.connect(*address)
    device.loop_start()
    device.subscribe("devices/7/command", qos=1)
    if not subscribed.wait(WAIT):
        raise TimeoutError("device-7 got no SUBACK")
    device.publish("devices/7/status", b"online", qos=1, retain=True).wait_for_publish(WAIT)
    print("device-7: connected over TCP (MQTT 5.0), published online (retained)")
    return device


def send_readings(device: mqtt.Client) -> None:
    """Publishes the readings at QoS 1, each with a `unit` user property."""
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.UserProperty = [("unit", "celsius")]
    for value in READINGS:
        info = device.publish("sensors/7/temperature", value.encode(), qos=1, properties=props)
        info.wait_for_publish(WAIT)


def lose_power(device: mqtt.Client) -> None:
    """Kills the device's socket without a DISCONNECT, as a power cut does."""
    sock = device.socket()
    if isinstance(sock, socket.socket):
        sock.shutdown(socket.SHUT_RDWR)
    device.loop_stop()
    print("device-7: lost power (socket closed without DISCONNECT)")


def show(msg: mqlite.Message, note: str = "") -> str:
    """Prints a message the dashboard received and acknowledges it; returns the payload."""
    value = msg.payload.decode()
    unit = dict(msg.properties.user_properties).get("unit", "") if msg.properties else ""
    print(f"dashboard got {msg.topic} = {value}{' ' + unit if unit else ''}{note}")
    msg.ack()
    return value


def run() -> None:
    """The whole scene; raises `mqlite.Timeout` or `queue.Empty` if a message is missing."""
    with mqlite.Broker() as broker, broker.listen("127.0.0.1:0") as server:
        print(f"broker: in-process router, network clients at {server.url}")
        dashboard = broker.connect("dashboard")
        dashboard.subscribe("devices/+/status", qos=1)
        dashboard.subscribe("sensors/+/temperature", qos=1)

        commands: queue.Queue[str] = queue.Queue()
        device = start_device(server.address, commands)
        show(dashboard.recv(timeout=WAIT))
        send_readings(device)
        values = [float(show(dashboard.recv(timeout=WAIT), " (QoS 1)")) for _ in READINGS]

        # The dashboard acts on what it saw; the command crosses to the network device.
        if max(values) > THRESHOLD:
            print(f"dashboard: {max(values)} is over {THRESHOLD}, sending fan on")
            dashboard.publish("devices/7/command", b"fan on", qos=1)
        print(f"device-7 got {commands.get(timeout=WAIT)} (from the in-process dashboard)")

        lose_power(device)
        show(dashboard.recv(timeout=WAIT), " (the will)")
        accepted = server.stats()["connections_accepted"]
        print(f"dashboard: {len(values)} readings, average {sum(values) / len(values):.1f}")
        print(f"network frontend: {accepted} connection accepted")


def main() -> int:
    """Runs the scene; 1 if an expected message did not arrive."""
    try:
        run()
    except (mqlite.Timeout, queue.Empty, TimeoutError) as e:
        print(f"python_dashboard: an expected message did not arrive: {e!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
