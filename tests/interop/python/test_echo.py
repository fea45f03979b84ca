"""Python's `websockets` client against /ws/echo: text and binary, fragments, compression,
close codes, ping/pong, concurrent connections."""
import asyncio
import random

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

TIMEOUT = 30
SIZES = (0, 1, 125, 126, 127, 65535, 65536, 1024 * 1024)


def run(coroutine):
    """Runs one test body with an overall deadline."""
    return asyncio.run(asyncio.wait_for(coroutine, TIMEOUT))


def noise(size, seed=1):
    return random.Random(seed).randbytes(size)


def extensions(ws):
    return ws.response.headers.get("Sec-WebSocket-Extensions", "")


@pytest.mark.parametrize("compression", ["deflate", None])
def test_echo_text_and_binary(server, compression):
    async def main():
        async with connect(f"{server}/ws/echo", compression=compression, max_size=None) as ws:
            assert ("permessage-deflate" in extensions(ws)) == (compression == "deflate")
            for size in SIZES:
                text = "".join(chr(32 + i % 95) for i in range(size))
                await ws.send(text)
                assert await ws.recv() == text
                data = noise(size, size)
                await ws.send(data)
                assert await ws.recv() == data
            for text in ("κόσμε", "🎉" * 1000, "ünïcödé " * 5000):
                await ws.send(text)
                assert await ws.recv() == text

    run(main())


def test_compression_is_negotiated_by_default_and_compresses(server):
    async def main():
        async with connect(f"{server}/ws/echo", max_size=None) as ws:
            assert "permessage-deflate" in extensions(ws)
            compressible = '{"room":"lobby","data":[1,2,3]}' * 20000
            for _ in range(3):
                await ws.send(compressible)
                assert await ws.recv() == compressible
                data = noise(300_000, 5)
                await ws.send(data)
                assert await ws.recv() == data

    run(main())


def test_compression_without_context_takeover_and_small_windows(server):
    factory = ClientPerMessageDeflateFactory(
        server_no_context_takeover=True, client_no_context_takeover=True,
        server_max_window_bits=10, client_max_window_bits=10,
    )

    async def main():
        async with connect(f"{server}/ws/echo", compression=None, extensions=[factory], max_size=None) as ws:
            negotiated = extensions(ws)
            assert "permessage-deflate" in negotiated and "server_no_context_takeover" in negotiated
            for n in range(3):
                text = f"round {n} " + "abcabcabd" * 30000
                await ws.send(text)
                assert await ws.recv() == text

    run(main())


def test_fragmented_messages(server):
    async def main():
        async with connect(f"{server}/ws/echo", max_size=None) as ws:
            await ws.send(["frag", "men", "ted ✓"])
            assert await ws.recv() == "fragmented ✓"
            await ws.send([b"\x00" * 40_000, b"", b"\x01" * 40_000])
            assert await ws.recv() == b"\x00" * 40_000 + b"\x01" * 40_000

            async def pieces():
                for i in range(100):
                    yield f"<{i}>"

            await ws.send(pieces())
            assert await ws.recv() == "".join(f"<{i}>" for i in range(100))

    run(main())


@pytest.mark.parametrize("code", [1000, 3000, 4000, 4999])
def test_close_code_is_answered(server, code):
    async def main():
        ws = await connect(f"{server}/ws/echo")
        await ws.send("before close")
        assert await ws.recv() == "before close"
        await ws.close(code, "bye")
        assert ws.close_code == code
        assert ws.close_reason in ("bye", "")

    run(main())


def test_message_over_the_limit_closes_with_1009(server):
    async def main():
        async with connect(f"{server}/ws/echo", max_size=None, compression=None) as ws:
            # The server may refuse on the frame header, so the close can interrupt the send.
            with pytest.raises(ConnectionClosed) as closed:
                await ws.send(b"x" * (2 * 1024 * 1024 + 1))  # the fixture limit + 1
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009

    run(main())


def test_ping_gets_a_pong(server):
    async def main():
        async with connect(f"{server}/ws/echo") as ws:
            for payload in (b"", b"hello", noise(125)):
                # websockets resolves the waiter only for a pong carrying this ping's payload.
                pong = await ws.ping(payload)
                await pong
                await ws.send("after ping")
                assert await ws.recv() == "after ping"

    run(main())


def test_fifty_concurrent_connections(server):
    async def one(i):
        async with connect(f"{server}/ws/echo") as ws:
            for j in range(10):
                await ws.send(f"{i}:{j}")
            for j in range(10):
                assert await ws.recv() == f"{i}:{j}"

    async def main():
        await asyncio.gather(*(one(i) for i in range(50)))

    run(main())
