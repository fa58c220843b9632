#!/usr/bin/python3
"""Writes one encoded sample to stdout, made by the real tools and libraries data travels through:
gzip(1), brotli(1), zip(1), Python's zipfile, email and zlib, openpyxl (.xlsx), python-docx (.docx)
and ReportLab (.pdf). Used by decode_test.cc and the end-to-end uploads.

Usage: make_encoded.py NAME [TEXT | @FILE]   (TEXT defaults to a line with a test card number)
"""
import base64
import email.generator
import email.mime.application
import email.mime.multipart
import email.mime.text
import io
import os
import subprocess
import sys
import tempfile
import zipfile
import zlib

CARD = "4539 1488 0343 6467"
TEXT = f"name,card\nAda Lovelace,{CARD}\n"


def tool(cmd, data):
    return subprocess.run(cmd, input=data, stdout=subprocess.PIPE, check=True).stdout


def http_request(body, headers, chunks=None):
    head = "POST /upload HTTP/1.1\r\nHost: files.example\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    if chunks is None:
        return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    out = (head + "Transfer-Encoding: chunked\r\n\r\n").encode()
    i = 0
    for n in chunks:
        piece = body[i:i + n]
        i += n
        if piece:
            out += f"{len(piece):x};ext=1\r\n".encode() + piece + b"\r\n"
    if i < len(body):
        out += f"{len(body) - i:x}\r\n".encode() + body[i:] + b"\r\n"
    return out + b"0\r\nX-Trailer: 1\r\n\r\n"


def zip_tool(files, flags=()):
    with tempfile.TemporaryDirectory() as d:
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        subprocess.run(["zip", "-q", *flags, "out.zip", *files], cwd=d, check=True)
        with open(os.path.join(d, "out.zip"), "rb") as f:
            return f.read()


def zip_stream(files):
    # zip(1) writing to a pipe: members with data descriptors (sizes after the data).
    with tempfile.TemporaryDirectory() as d:
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        return subprocess.run(["zip", "-q", "-", *files], cwd=d, stdout=subprocess.PIPE, check=True).stdout


def xlsx(text):
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in text.strip().split("\n"):
        ws.append(row.split(","))
    ws.append([1234567, 20240131, "INV-0042"])
    b = io.BytesIO()
    wb.save(b)
    return b.getvalue()


def docx(text):
    import docx as docxlib
    d = docxlib.Document()
    d.add_heading("Customer record", 1)
    for line in text.strip().split("\n"):
        d.add_paragraph(line)
    b = io.BytesIO()
    d.save(b)
    return b.getvalue()


def pdf(text):
    from reportlab.pdfgen import canvas
    b = io.BytesIO()
    c = canvas.Canvas(b, pageCompression=1)
    y = 800
    for line in text.strip().split("\n"):
        c.drawString(72, y, line)
        y -= 14
    c.showPage()
    c.save()
    return b.getvalue()


def multipart(parts, boundary="----goldgate-form-7MA4YWxkTrZu0gW"):
    out = b""
    for name, filename, ctype, cte, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n".encode()
        if ctype:
            out += f"Content-Type: {ctype}\r\n".encode()
        if cte:
            out += f"Content-Transfer-Encoding: {cte}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), boundary


def mime_email(text):
    m = email.mime.multipart.MIMEMultipart()
    m["Subject"] = "report"
    m.attach(email.mime.text.MIMEText("see attached", "plain"))
    att = email.mime.application.MIMEApplication(text.encode(), Name="cards.csv")
    att["Content-Disposition"] = 'attachment; filename="cards.csv"'
    m.attach(att)
    b = io.StringIO()
    email.generator.Generator(b).flatten(m)
    return b.getvalue().replace("\n", "\r\n").encode()


def deflate_bomb(gib):
    # One MiB of zeros deflated with a full flush is byte-aligned and needs no earlier window, so
    # the block repeats: `gib` GiB from about a thousandth of that.
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = z.compress(b"\0" * (1 << 20)) + z.flush(zlib.Z_FULL_FLUSH)
    return block * (1024 * gib) + b"\x03\x00"  # a final empty fixed-Huffman block


def zip_of_deflate(name, raw):
    # A ZIP member whose deflate data is given, with a data descriptor (its size is not in front).
    n = name.encode()
    local = b"PK\x03\x04" + (20).to_bytes(2, "little") + (8).to_bytes(2, "little") + (8).to_bytes(2, "little")
    local += b"\0\0\0\0" + b"\0" * 12 + len(n).to_bytes(2, "little") + b"\0\0" + n
    return local + raw + b"PK\x07\x08" + b"\0" * 12 + b"PK\x05\x06" + b"\0" * 18


def nested_zip(depth, inner):
    data = inner
    for i in range(depth):
        b = io.BytesIO()
        with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(f"level{depth - i}.zip" if i else "cards.csv", data)
        data = b.getvalue()
    return data


def main():
    name = sys.argv[1]
    text = sys.argv[2] if len(sys.argv) > 2 else TEXT
    if text.startswith("@"):
        with open(text[1:]) as f:
            text = f.read()
    t = text.encode()
    if name == "plain-http":
        out = http_request(t, [("Content-Type", "text/csv")])
    elif name == "chunked-http":
        # Chunk boundaries inside the card number.
        out = http_request(t, [("Content-Type", "text/csv")], chunks=[len("name,card\nAda Lovelace,4539 14"), 3, 5])
    elif name == "gzip-http":
        out = http_request(tool(["gzip", "-c"], t), [("Content-Encoding", "gzip")], chunks=[7, 11])
    elif name == "deflate-http":
        out = http_request(zlib.compress(t), [("Content-Encoding", "deflate")])
    elif name == "br-http":
        out = http_request(tool(["brotli", "-c"], t), [("Content-Encoding", "br")])
    elif name == "gzip-br-http":
        out = http_request(tool(["brotli", "-c"], tool(["gzip", "-c"], t)), [("Content-Encoding", "gzip, br")])
    elif name == "multipart-base64":
        body, b = multipart([("note", None, None, None, b"quarterly"),
                             ("file", "cards.csv", "text/csv", "base64", base64.encodebytes(t))])
        out = http_request(body, [("Content-Type", f"multipart/form-data; boundary={b}")])
    elif name == "multipart-qp":
        qp = t.replace(b"4539", b"=34539").replace(b"\n", b"=\r\n")
        body, b = multipart([("file", "cards.txt", "text/plain", "quoted-printable", qp)])
        out = http_request(body, [("Content-Type", f"multipart/form-data; boundary={b}")], chunks=[40, 40])
    elif name == "urlencoded":
        from urllib.parse import urlencode
        out = http_request(urlencode({"card": CARD, "name": "Ada"}).encode(),
                           [("Content-Type", "application/x-www-form-urlencoded")])
    elif name == "zip":
        out = zip_tool({"report.csv": t})
    elif name == "zip-stream":
        out = zip_stream({"report.csv": t, "notes.txt": b"nothing here\n"})
    elif name == "zip-stored":
        out = zip_tool({"report.csv": t}, ["-0"])
    elif name == "zip-encrypted":
        out = zip_tool({"report.csv": t}, ["-P", "secret"])
    elif name == "zip-http":
        out = http_request(zip_tool({"report.csv": t}), [("Content-Type", "application/zip")])
    elif name == "xlsx":
        out = xlsx(text)
    elif name == "docx":
        out = docx(text)
    elif name == "pdf":
        out = pdf(text)
    elif name == "email":
        out = mime_email(text)
    elif name == "bomb":
        out = zip_of_deflate("zeros.bin", deflate_bomb(10))
    elif name == "nested-zip":
        out = nested_zip(12, t)
    elif name == "gzip":
        out = tool(["gzip", "-c"], t)
    else:
        sys.exit(f"make_encoded.py: unknown sample {name}")
    sys.stdout.buffer.write(out)


if __name__ == "__main__":
    main()
