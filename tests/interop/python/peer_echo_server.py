"""A Python `websockets` echo server for our Rust client (crates/ws-tokio/tests/peers.rs).

Echoes every message with its type (permessage-deflate is on by default in websockets),
listens on a free port and prints `listening on ws://127.0.0.1:PORT` (wss:// with
`--tls CERT KEY`).
"""
import asyncio
import ssl
import sys

from websockets.asyncio.server import serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main():
    context = None
    if "--tls" in sys.argv:
        cert, key = sys.argv[sys.argv.index("--tls") + 1 : sys.argv.index("--tls") + 3]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    async with serve(echo, "127.0.0.1", 0, ssl=context, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on {'wss' if context else 'ws'}://127.0.0.1:{port}", flush=True)
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main())
