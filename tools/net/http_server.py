#!/usr/bin/python3
"""A small HTTP server for sluice's network tests (run inside the server namespace).

GET /big?mb=N   streams N MiB of deterministic bytes without personal data
POST /anything  reads the body and logs its sha256 (never the body itself: bodies carry
                generated personal data, which must not land in any log) to --log, one per line
UDP on --port   logs the sha256 of every datagram received the same way

usage: http_server.py --bind ADDR --port PORT --log FILE"""
import argparse
import hashlib
import http.server
import socket
import socketserver
import threading


def big_chunk():
    # 1 MiB of lowercase text: no digits, so nothing a sensor could match.
    line = b"the quick brown fox jumps over the lazy dog, again and again\n"
    data = line * (1048576 // len(line) + 1)
    return data[:1048576]


CHUNK = big_chunk()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        mb = 1
        if "?mb=" in self.path:
            mb = int(self.path.split("?mb=")[1])
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(mb * len(CHUNK)))
        self.end_headers()
        for _ in range(mb):
            self.wfile.write(CHUNK)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        with open(self.server.log_path, "a") as f:
            f.write(hashlib.sha256(body).hexdigest() + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # resets are what the tests provoke: not worth a traceback


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    if ":" in a.bind:
        Server.address_family = __import__("socket").AF_INET6
    srv = Server((a.bind, a.port), Handler)
    srv.log_path = a.log
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    udp = socket.socket(socket.AF_INET6 if ":" in a.bind else socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((a.bind, a.port))
    while True:
        data = udp.recv(65536)
        with open(a.log, "a") as f:
            f.write(hashlib.sha256(data).hexdigest() + "\n")
