"""python-socketio's client (PyPI) against switchboard's Socket.IO server (the `conformance`
example of crates/socketio), over long-polling and WebSocket: events both ways, acks both
ways, binary, namespaces and middleware refusals."""
import os
import queue
import re
import subprocess
import threading

import pytest
import socketio

BIN = os.environ.get("SOCKETIO_SERVER_BIN")
pytestmark = pytest.mark.skipif(
    not BIN and not os.environ.get("SWITCHBOARD_INTEROP"),
    reason="SOCKETIO_SERVER_BIN not set (scripts/test.sh builds the conformance example)",
)
WAIT = 5


@pytest.fixture(scope="module")
def url():
    proc = subprocess.Popen([BIN, "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    port = queue.Queue()

    def read():
        for line in proc.stdout:
            match = re.search(r"listening on http://[^:]+:(\d+)", line)
            if match:
                port.put(int(match.group(1)))
        port.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        number = port.get(timeout=15)
        assert number, "the server exited early"
        yield f"http://127.0.0.1:{number}"
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(params=[["polling"], ["websocket"]], ids=["polling", "websocket"])
def transports(request):
    return request.param


def connect(url, transports, namespace="/", auth=None):
    client = socketio.Client(reconnection=False)
    inbox = queue.Queue()

    @client.on("*", namespace=namespace)
    def any_event(event, *args):
        inbox.put((event, list(args)))

    client.connect(url, transports=transports, namespaces=[namespace], auth=auth,
                   wait_timeout=WAIT)
    return client, inbox


def next_event(inbox, name):
    while True:
        event, args = inbox.get(timeout=WAIT)
        if event == name:
            return args


def test_events_and_acks(url, transports):
    client, inbox = connect(url, transports, auth={"user": "py"})
    try:
        assert next_event(inbox, "auth") == [{"user": "py"}]
        client.emit("message", (1, "two", {"three": [3, "é"]}))
        assert next_event(inbox, "message-back") == [1, "two", {"three": [3, "é"]}]
        assert client.call("message-with-ack", "ping", timeout=WAIT) == "ping"
    finally:
        client.disconnect()


def test_binary_both_ways(url, transports):
    client, inbox = connect(url, transports)
    try:
        blob = bytes(range(256)) * 100
        client.emit("message", (blob, {"nested": b"\x00\x01"}))
        back = next_event(inbox, "message-back")
        assert back == [blob, {"nested": b"\x00\x01"}]
    finally:
        client.disconnect()


def test_server_asks_for_an_ack(url, transports):
    client = socketio.Client(reconnection=False)
    answered = queue.Queue()
    client.on("question", lambda a, b: f"{a}+{b}")
    client.on("asked", lambda answer: answered.put(answer))
    client.connect(url, transports=transports, wait_timeout=WAIT)
    try:
        client.emit("ask", ("x", "y"))
        assert answered.get(timeout=WAIT) == ["x+y"]
    finally:
        client.disconnect()


def test_namespaces_and_refusals(url, transports):
    client, inbox = connect(url, transports, namespace="/dynamic-py")
    try:
        assert next_event(inbox, "namespace") == ["/dynamic-py"]
    finally:
        client.disconnect()
    refused = socketio.Client(reconnection=False)
    errors = queue.Queue()
    refused.on("connect_error", lambda data: errors.put(data), namespace="/restricted")
    with pytest.raises(socketio.exceptions.ConnectionError):
        refused.connect(url, transports=transports, namespaces=["/restricted"],
                        auth={"token": "wrong"}, wait_timeout=WAIT)
    # python-socketio hands the handler the whole CONNECT_ERROR payload.
    assert errors.get(timeout=WAIT) == {"message": "not authorized", "data": {"reason": "missing token"}}
