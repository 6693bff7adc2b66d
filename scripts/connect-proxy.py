#!/usr/bin/env python3
"""A loopback HTTPS (CONNECT) proxy that reaches only the hosts it is given.

The lane's steps reach the outside world through `lane.proxy` (deploy.json); on g14 that is a
proxy on the node's loopback, which the runs reach with `hostNetwork`. scripts/e2e.sh stands
one up here the same way, for the validate Task's `bun install` (the npm registry): every
CONNECT to another host or port is refused, so nothing else leaves the machine.

usage: connect-proxy.py --listen 127.0.0.1:PORT --allow HOST:PORT [--allow HOST:PORT]...
Prints "listening HOST:PORT" on stdout once ready; one log line per request on stderr.
"""

import argparse
import select
import socket
import socketserver
import sys

MAX_HEADER = 16384


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
            if len(head) > MAX_HEADER:
                return self.answer(431, "header too large")
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split()
        if len(parts) != 3 or parts[0] != "CONNECT":
            return self.answer(405, f"only CONNECT: {line[:80]!r}")
        target = parts[1]
        if target not in self.server.allow:
            return self.answer(403, f"not allowed: {target}")
        host, port = target.rsplit(":", 1)
        try:
            upstream = socket.create_connection((host, int(port)), timeout=15)
        except OSError as e:
            return self.answer(502, f"{target}: {e}")
        print(f"connect-proxy: CONNECT {target}", file=sys.stderr, flush=True)
        self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        rest = head.split(b"\r\n\r\n", 1)[1]
        if rest:
            upstream.sendall(rest)
        self.pipe(self.request, upstream)

    def answer(self, code, why):
        print(f"connect-proxy: {code} {why}", file=sys.stderr, flush=True)
        self.request.sendall(f"HTTP/1.1 {code} {why}\r\nContent-Length: 0\r\n\r\n".encode())

    @staticmethod
    def pipe(a, b):
        socks = [a, b]
        try:
            while True:
                ready, _, _ = select.select(socks, [], [], 300)
                if not ready:
                    return
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except OSError:
            return
        finally:
            b.close()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--listen", required=True)
    p.add_argument("--allow", action="append", default=[])
    a = p.parse_args()
    host, port = a.listen.rsplit(":", 1)
    if host not in ("127.0.0.1", "localhost"):
        sys.exit("connect-proxy: listens on loopback only")
    srv = Server((host, int(port)), Handler)
    srv.allow = set(a.allow)
    print(f"listening {host}:{srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
