#!/usr/bin/python3
"""A tiny HTTP upload receiver for the end-to-end tests: every POST body is stored in OUTDIR (one
file a request, named by the request path) and answered with its SHA-256, so a test can tell a
delivered upload from a cut one. Usage: upload_server.py ADDRESS PORT OUTDIR"""
import hashlib
import http.server
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = b""
        while len(body) < length:
            chunk = self.rfile.read(min(65536, length - len(body)))
            if not chunk:
                break
            body += chunk
        name = os.path.basename(self.path.strip("/")) or "upload"
        with open(os.path.join(self.server.outdir, name), "wb") as f:
            f.write(body)
        digest = hashlib.sha256(body).hexdigest().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(digest)))
        self.end_headers()
        self.wfile.write(digest)

    def log_message(self, fmt, *args):
        sys.stderr.write("upload_server: " + fmt % args + "\n")


def main():
    addr, port, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    server = http.server.ThreadingHTTPServer((addr, port), Handler)
    server.outdir = outdir
    server.serve_forever()


if __name__ == "__main__":
    main()
