#!/usr/bin/python3
"""A tiny HTTP upload receiver for the end-to-end tests: every POST body (Content-Length or
chunked) is stored in OUTDIR (one file a request, named by the request path) and answered with its
SHA-256, so a test can tell a delivered upload from a cut one. A multipart/form-data upload stores
its file part, decoded from its transfer encoding, and answers with that file's SHA-256. With
--tls CERT KEY it serves HTTPS.
Usage: upload_server.py ADDRESS PORT OUTDIR [--tls CERT KEY]"""
import email.parser
import email.policy
import hashlib
import http.server
import os
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = b""
            while True:
                line = self.rfile.readline()
                if not line:
                    return body
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length", "0"))
        body = b""
        while len(body) < length:
            chunk = self.rfile.read(min(65536, length - len(body)))
            if not chunk:
                break
            body += chunk
        return body

    def do_POST(self):
        body = self.read_body()
        name = os.path.basename(self.path.strip("/")) or "upload"
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
            for part in msg.iter_parts():
                if part.get_filename():
                    body = part.get_payload(decode=True)
                    name = os.path.basename(part.get_filename())
                    break
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
    if len(sys.argv) > 4 and sys.argv[4] == "--tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[5], sys.argv[6])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
