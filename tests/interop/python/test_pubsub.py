"""The /ws publish/subscribe JSON protocol with Python's `websockets` clients."""
import asyncio
import json

from websockets.asyncio.client import connect

TIMEOUT = 30


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, TIMEOUT))


async def send(ws, obj):
    await ws.send(obj if isinstance(obj, str) else json.dumps(obj))


async def recv(ws):
    return json.loads(await ws.recv())


async def sync(ws):
    """The error reply to a bad request proves the earlier requests took effect (in order)."""
    await send(ws, {"type": "sync"})
    reply = await recv(ws)
    assert reply["type"] == "error", reply


def test_publish_reaches_every_other_subscriber_only(server):
    async def main():
        a, b, c, d = [await connect(f"{server}/ws") for _ in range(4)]
        for ws in (a, b, c):
            await send(ws, {"type": "subscribe", "room": "py"})
        await send(d, {"type": "subscribe", "room": "other"})
        for ws in (a, b, c, d):
            await sync(ws)
        data = {"x": [1, "two", None, 3.5], "ü": True}
        await send(a, {"type": "publish", "room": "py", "data": data})
        for ws in (b, c):
            assert await recv(ws) == {"type": "message", "room": "py", "data": data}
        await sync(a)  # nothing for the publisher
        await sync(d)  # nothing for another room

        await send(c, {"type": "unsubscribe", "room": "py"})
        await sync(c)
        await send(b, {"type": "publish", "room": "py", "data": "second"})
        assert await recv(a) == {"type": "message", "room": "py", "data": "second"}
        await sync(c)  # unsubscribed: nothing
        for ws in (a, b, c, d):
            await ws.close()

    run(main())


def test_bad_requests_get_errors_and_the_connection_stays_open(server):
    async def main():
        async with connect(f"{server}/ws") as ws, connect(f"{server}/ws") as other:
            for bad in ("not json", {"room": "r"}, {"type": "dance", "room": "r"},
                        {"type": "subscribe"}, {"type": "subscribe", "room": 7}):
                await send(ws, bad)
                reply = await recv(ws)
                assert reply["type"] == "error" and isinstance(reply["message"], str), bad
            await ws.send(b"\x01\x02")
            assert (await recv(ws))["type"] == "error"
            await send(ws, {"type": "subscribe", "room": "r"})
            await sync(ws)
            await send(other, {"type": "publish", "room": "r", "data": [1]})
            assert await recv(ws) == {"type": "message", "room": "r", "data": [1]}

    run(main())
