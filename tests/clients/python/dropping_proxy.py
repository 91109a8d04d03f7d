"""A TCP proxy on 127.0.0.1 in front of one broker that drops chosen responses, to force client retries.

Clients bootstrap to the proxy; Metadata responses are rewritten so the broker's advertised port is the
proxy's, which keeps every connection going through it. When a Produce response is to be dropped, the proxy
closes the client's connection instead of delivering it: the broker has written the batch, the client never
hears so, reconnects and sends the same batch again (an idempotent producer with the same sequence numbers).
Not a test module; test_idempotence.py uses it.
"""

import socket
import struct
import threading

PRODUCE = 0
METADATA = 3
# Frames larger than this are not expected from the test clients; it bounds what a bad length can allocate.
MAX_FRAME = 64 << 20


def _read_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf.extend(chunk)
    return bytes(buf)


def _read_frame(sock):
    size = struct.unpack(">i", _read_exact(sock, 4))[0]
    if size < 0 or size > MAX_FRAME:
        raise ConnectionError(f"bad frame size {size}")
    return _read_exact(sock, size)


def _uvarint(buf, pos):
    value, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _skip_tagged(buf, pos):
    n, pos = _uvarint(buf, pos)
    for _ in range(n):
        _, pos = _uvarint(buf, pos)
        size, pos = _uvarint(buf, pos)
        pos += size
    return pos


def rewrite_metadata_ports(frame, version, port):
    """The Metadata response `frame` (correlation id first) with every broker's port set to `port`."""
    buf = bytearray(frame)
    flexible = version >= 9
    pos = 4
    if flexible:
        pos = _skip_tagged(buf, pos)
    if version >= 3:
        pos += 4  # throttle_time_ms
    if flexible:
        count, pos = _uvarint(buf, pos)
        count -= 1
    else:
        count = struct.unpack_from(">i", buf, pos)[0]
        pos += 4
    for _ in range(max(count, 0)):
        pos += 4  # node_id
        if flexible:
            length, pos = _uvarint(buf, pos)
            length -= 1
        else:
            length = struct.unpack_from(">h", buf, pos)[0]
            pos += 2
        pos += length
        struct.pack_into(">i", buf, pos, port)
        pos += 4
        if version >= 1:  # rack, a nullable string
            if flexible:
                length, pos = _uvarint(buf, pos)
                pos += max(length - 1, 0)
            else:
                length = struct.unpack_from(">h", buf, pos)[0]
                pos += 2 + max(length, 0)
        if flexible:
            pos = _skip_tagged(buf, pos)
    return bytes(buf)


class DroppingProxy:
    """proxy = DroppingProxy("127.0.0.1:9092", drop_produce={1, 3}); proxy.address; proxy.close()

    `drop_produce` numbers the Produce responses (from 1, in the order the broker sends them) to drop."""

    def __init__(self, upstream, drop_produce=()):
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.drop_produce = set(drop_produce)
        self.produce_responses = 0
        self.produce_requests = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._closed = False
        self._sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream, timeout=10)
            server.settimeout(None)
            with self._lock:
                self._sockets += [client, server]
            requests = {}
            threading.Thread(target=self._upstream, args=(client, server, requests), daemon=True).start()
            threading.Thread(target=self._downstream, args=(client, server, requests), daemon=True).start()

    @staticmethod
    def _close(*socks):
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _upstream(self, client, server, requests):
        try:
            while True:
                frame = _read_frame(client)
                api_key, version, correlation = struct.unpack_from(">hhi", frame, 0)
                requests[correlation] = (api_key, version)
                if api_key == PRODUCE:
                    with self._lock:
                        self.produce_requests += 1
                server.sendall(struct.pack(">i", len(frame)) + frame)
        except (ConnectionError, OSError, struct.error):
            self._close(client, server)

    def _downstream(self, client, server, requests):
        try:
            while True:
                frame = _read_frame(server)
                correlation = struct.unpack_from(">i", frame, 0)[0]
                api_key, version = requests.pop(correlation, (None, None))
                if api_key == PRODUCE:
                    with self._lock:
                        self.produce_responses += 1
                        drop = self.produce_responses in self.drop_produce
                        self.dropped += int(drop)
                    if drop:
                        self._close(client, server)
                        return
                elif api_key == METADATA:
                    frame = rewrite_metadata_ports(frame, version, self.port)
                client.sendall(struct.pack(">i", len(frame)) + frame)
        except (ConnectionError, OSError, struct.error, IndexError):
            self._close(client, server)

    def close(self):
        self._closed = True
        self._close(self._listener)
        with self._lock:
            self._close(*self._sockets)
