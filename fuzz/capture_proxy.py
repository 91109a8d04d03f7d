"""A TCP proxy that saves the request frames real Kafka clients send, as seeds for the request fuzz target.

    python3 capture_proxy.py LISTEN_PORT BROKER_HOST:PORT OUT_DIR LABEL_FILE

Every client-to-broker frame is saved as OUT_DIR/<label>-<api key>-v<version>-<n>.bin (size prefix included),
at most three per label, API key and version; LABEL_FILE holds the label of the client running now (the capture
script writes it before each client). Responses pass through untouched.
"""

import asyncio
import os
import sys

LISTEN_PORT = int(sys.argv[1])
BROKER_HOST, BROKER_PORT = sys.argv[2].rsplit(":", 1)
OUT_DIR = sys.argv[3]
LABEL_FILE = sys.argv[4]
PER_KIND = 3


def save(frame: bytes) -> None:
    if len(frame) < 8:
        return
    api_key = int.from_bytes(frame[4:6], "big", signed=True)
    version = int.from_bytes(frame[6:8], "big", signed=True)
    try:
        label = open(LABEL_FILE).read().strip() or "client"
    except OSError:
        label = "client"
    for n in range(PER_KIND):
        path = os.path.join(OUT_DIR, f"{label}-{api_key}-v{version}-{n}.bin")
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(frame)
            return


async def client_to_broker(reader, writer):
    buf = b""
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
        await writer.drain()
        buf += data
        while len(buf) >= 4:
            size = int.from_bytes(buf[:4], "big", signed=True)
            if size < 0 or len(buf) < 4 + size:
                break
            save(buf[: 4 + size])
            buf = buf[4 + size :]
    writer.close()


async def broker_to_client(reader, writer):
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()


async def handle(client_reader, client_writer):
    try:
        broker_reader, broker_writer = await asyncio.open_connection(BROKER_HOST, int(BROKER_PORT))
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(
        client_to_broker(client_reader, broker_writer),
        broker_to_client(broker_reader, client_writer),
        return_exceptions=True,
    )


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", LISTEN_PORT)
    async with server:
        await server.serve_forever()


asyncio.run(main())
