#!/usr/bin/env python3
"""Hold many connections that never finish a request against one server, and measure how it copes.

Each kind of connection is one way to hold a server's descriptors without a token:

  tcp              connect and send nothing
  half-handshake   send the first bytes of a TLS ClientHello and stop (TLS servers)
  partial-headers  send a request line and one header, never the blank line
  keep-alive       send one whole request, read the answer, then stay idle

For each kind the script opens --count connections from --source (an address of its own,
so the server sees one peer), while a second thread sends a normal authenticated request
from the default address every --interval seconds. It then waits until the server has
closed every connection, or --deadline passes, and prints one JSON line per kind:

  opened, refused_at_once (closed by the server before the client was done setting it up),
  seconds_opening, seconds_to_close_all (after the last one opened), longest_open_seconds
  (the longest any one stayed open; the server's timeouts bound it), still_open, normal_requests, normal_failures, latency_ms_p50 / _max, server_cpu_seconds

It asserts nothing; the caller decides what the figures must be.

  python3 scripts/idle-connections.py --port 8443 --tls --token TOKEN --path /backup/due
"""
import argparse
import http.client
import json
import os
import resource
import select
import socket
import ssl
import statistics
import threading
import time

# A TLS record header announcing a 512-byte handshake record, and only part of it.
PARTIAL_CLIENT_HELLO = bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03]) + b"\x00" * 16


def server_cpu_seconds(pid):
    if not pid:
        return None
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class NormalRequests(threading.Thread):
    """Authenticated requests from the default address, one every `interval` seconds, until stopped."""

    def __init__(self, args):
        super().__init__(daemon=True)
        self.args = args
        self.latencies = []
        self.failures = []
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                if self.args.tls:
                    context = ssl._create_unverified_context()
                    connection = http.client.HTTPSConnection(self.args.host, self.args.port, timeout=60, context=context)
                else:
                    connection = http.client.HTTPConnection(self.args.host, self.args.port, timeout=60)
                connection.request("GET", self.args.path, headers={"Authorization": f"Bearer {self.args.token}"})
                response = connection.getresponse()
                response.read()
                connection.close()
                if response.status != 200:
                    self.failures.append(f"status {response.status}")
                else:
                    self.latencies.append((time.monotonic() - started) * 1000)
            except Exception as error:  # noqa: BLE001 - every failure is a figure here
                self.failures.append(f"{type(error).__name__}: {error}")
            self.stopping.wait(self.args.interval)


def open_connection(args, kind, context):
    """A connection of `kind`, or None when the server closed it before it was set up."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((args.source, 0))
    sock.settimeout(30)
    sock.connect((args.host, args.port))
    try:
        if kind == "tcp":
            pass
        elif kind == "half-handshake":
            sock.sendall(PARTIAL_CLIENT_HELLO)
        else:
            if args.tls:
                sock = context.wrap_socket(sock)
            if kind == "partial-headers":
                sock.sendall(b"GET " + args.path.encode() + b" HTTP/1.1\r\nHost: felhom\r\n")
            else:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: felhom\r\n\r\n")
                answer = b""
                while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                    chunk = sock.recv(4096)
                    if not chunk:
                        raise ConnectionError("closed before the answer")
                    answer += chunk
        sock.setblocking(False)
        # Some kinds are refused right away; find out without waiting.
        if readable([sock], 0) and closed(sock):
            return None
        return sock
    except (OSError, ssl.SSLError):
        sock.close()
        return None


def readable(sockets, timeout):
    """The sockets with something to read, EOF included; poll(), since select() stops at descriptor 1024."""
    poller = select.poll()
    by_fd = {sock.fileno(): sock for sock in sockets}
    for fd in by_fd:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    return [by_fd[fd] for fd, _ in poller.poll(timeout * 1000)]


def closed(sock):
    try:
        return sock.recv(65536) == b""
    except (BlockingIOError, ssl.SSLWantReadError):
        return False
    except (OSError, ssl.SSLError):
        return True


def attack(args, kind):
    context = ssl._create_unverified_context()
    normal = NormalRequests(args)
    cpu_before = server_cpu_seconds(args.server_pid)
    normal.start()
    sockets, opened, refused, longest = [], {}, 0, 0.0
    started_at = time.monotonic()
    last_close = started_at

    def reap(timeout):
        nonlocal last_close, longest
        for sock in readable(sockets, timeout):
            if closed(sock):
                last_close = time.monotonic()
                longest = max(longest, last_close - opened.pop(sock))
                sockets.remove(sock)
                sock.close()

    for number in range(args.count):
        sock = open_connection(args, kind, context)
        if sock is None:
            refused += 1
        else:
            sockets.append(sock)
            opened[sock] = time.monotonic()
        # Notice closes while opening too, or a connection refused at once would count as long-lived.
        if number % 50 == 49:
            reap(0)
    opened_at = time.monotonic()
    deadline = opened_at + args.deadline
    while sockets and time.monotonic() < deadline:
        reap(0.5)
    normal.stopping.set()
    normal.join()
    still_open = len(sockets)
    for sock in sockets:
        sock.close()
    cpu_after = server_cpu_seconds(args.server_pid)
    latencies = sorted(normal.latencies)
    return {
        "kind": kind,
        "opened": args.count,
        "refused_at_once": refused,
        "seconds_opening": round(opened_at - started_at, 2),
        "seconds_to_close_all": round(max(0.0, last_close - opened_at), 2) if still_open == 0 else None,
        "longest_open_seconds": round(longest, 2),
        "still_open": still_open,
        "normal_requests": len(latencies) + len(normal.failures),
        "normal_failures": len(normal.failures),
        "failure_examples": normal.failures[:3],
        "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
        "latency_ms_max": round(latencies[-1], 1) if latencies else None,
        "server_cpu_seconds": round(cpu_after - cpu_before, 2) if cpu_before is not None else None,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls", action="store_true", help="the server speaks HTTPS")
    parser.add_argument("--token", required=True, help="bearer token for the normal requests")
    parser.add_argument("--path", required=True, help="the normal requests' GET path")
    parser.add_argument("--source", default="127.0.0.2", help="the attacking connections' own address")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--kinds", default="tcp,half-handshake,partial-headers,keep-alive")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between normal requests")
    parser.add_argument("--deadline", type=float, default=120, help="seconds to wait for the server to close them all")
    parser.add_argument("--settle", type=float, default=5, help="seconds between kinds")
    parser.add_argument("--server-pid", type=int, help="the server's pid, to report the CPU it used")
    args = parser.parse_args()

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    for number, kind in enumerate(args.kinds.split(",")):
        if number:
            # The server frees a closed TLS connection's descriptor only when the peer answers its
            # close_notify or its shutdown timeout runs out; let the last kind's go first.
            time.sleep(args.settle)
        print(json.dumps(attack(args, kind)), flush=True)


if __name__ == "__main__":
    main()
