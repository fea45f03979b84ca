"""Python's `websockets` client against switchboard: echo, fragments, compression, close
codes and the /ws publish/subscribe protocol."""
import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

TIMEOUT = 10


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, TIMEOUT))


@pytest.mark.parametrize("compression", ["deflate", None])
def test_echo_text_and_binary(server, compression):
    async def main():
        async with connect(f"{server}/ws/echo", compression=compression, max_size=None) as ws:
            negotiated = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            assert ("permessage-deflate" in negotiated) == (compression == "deflate")
            for size in (0, 1, 125, 126, 65535, 65536, 500_000):
                text = "ü" * (size // 2)
                await ws.send(text)
                assert await ws.recv() == text
                data = bytes((i * 7) % 256 for i in range(size))
                await ws.send(data)
                assert await ws.recv() == data

    run(main())


def test_fragmented_messages(server):
    async def main():
        async with connect(f"{server}/ws/echo") as ws:
            await ws.send(["frag", "men", "ted"])
            assert await ws.recv() == "fragmented"
            await ws.send([b"\x00" * 40_000, b"\x01" * 40_000])
            assert await ws.recv() == b"\x00" * 40_000 + b"\x01" * 40_000

    run(main())


def test_close_code_is_echoed_and_oversize_gets_1009(server):
    async def main():
        ws = await connect(f"{server}/ws/echo")
        await ws.close(4000, "bye")
        assert ws.close_code == 4000 and ws.close_reason == ""
        async with connect(f"{server}/ws/echo", max_size=None, compression=None) as ws:
            # The server refuses on the frame header, so the close may already interrupt
            # the send.
            with pytest.raises(ConnectionClosed) as closed:
                await ws.send(b"x" * (1048576 + 1))
                await ws.recv()
            assert closed.value.rcvd.code == 1009

    run(main())


def test_ping_gets_a_pong(server):
    async def main():
        async with connect(f"{server}/ws/echo") as ws:
            pong = await ws.ping(b"hello")
            latency = await asyncio.wait_for(pong, TIMEOUT)
            assert latency >= 0

    run(main())


def test_pubsub(server):
    async def main():
        a, b, c = [await connect(f"{server}/ws") for _ in range(3)]

        async def sync(ws):
            await ws.send("sync")
            assert json.loads(await ws.recv())["type"] == "error"

        for ws in (a, b):
            await ws.send(json.dumps({"type": "subscribe", "room": "py"}))
            await sync(ws)
        await c.send(json.dumps({"type": "subscribe", "room": "other"}))
        await sync(c)
        await a.send(json.dumps({"type": "publish", "room": "py", "data": {"x": [1, "two"]}}))
        assert json.loads(await b.recv()) == {"type": "message", "room": "py", "data": {"x": [1, "two"]}}
        await sync(a)
        await sync(c)
        await b.send(json.dumps({"type": "unsubscribe", "room": "py"}))
        await sync(b)
        await a.send(json.dumps({"type": "publish", "room": "py", "data": 1}))
        await sync(b)
        for ws in (a, b, c):
            await ws.close()

    run(main())
