#!/usr/bin/python3
"""Writes seed inputs for fuzz_http into a directory: exchanges the fuzzer would take long to
build from the dictionary alone (a compressed body per coding, a WebSocket channel with masked,
fragmented and permessage-deflate frames, an SMTP session with DATA, BDAT and STARTTLS, a
multipart body nested three levels deep). Format, as fuzz_http.c reads it: a parameter byte,
then chunks of [header byte: length (1-63) | direction << 6][data].

usage: tests/fuzz/seed_http.py DIR"""
import gzip
import os
import subprocess
import sys
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
import sluice_gen  # noqa: E402

REQ, RESP = 0, 1


def chunks(parts, smtp=False):
    out = bytearray([2 if smtp else 0])
    for d, data in parts:
        for i in range(0, len(data), 63):
            piece = data[i:i + 63]
            out.append(len(piece) | d << 6)
            out += piece
    return bytes(out)


def post(coding, body):
    return (b"POST /u HTTP/1.1\r\nHost: h\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n"
            % (coding, len(body)) + body)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    text = b'{"nir":"185057800608491","card":"4111 1111 1111 1111","note":"' + b"x" * 200 + b'"}'
    seeds = {"gzip": [(REQ, post(b"gzip", gzip.compress(text)))]}
    try:
        import brotli
        seeds["br"] = [(REQ, post(b"br", brotli.compress(text)))]
        seeds["br_gzip"] = [(REQ, post(b"gzip, br", brotli.compress(gzip.compress(text))))]
    except ImportError:
        pass
    z = subprocess.run(["zstd", "-q", "-c"], input=text, capture_output=True)
    if z.returncode == 0:
        seeds["zstd"] = [(REQ, post(b"zstd", z.stdout))]
    upgrade = (b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Version: 13\r\n\r\n")
    switch = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    m1 = (c.compress(text) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    m2 = (c.compress(text[:40]) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    frames = (sluice_gen.ws_frame(m1, rsv1=True, key=b"\x01\x02\x03\x04") +
              sluice_gen.ws_frame(m2[:3], fin=False, rsv1=True, key=b"\x05\x06\x07\x08") +
              sluice_gen.ws_frame(b"ping", op=9, key=b"\x09\x0a\x0b\x0c") +
              sluice_gen.ws_frame(m2[3:], op=0, key=b"\x0d\x0e\x0f\x10") +
              sluice_gen.ws_frame(text, op=2, key=b"\x11\x12\x13\x14") +
              sluice_gen.ws_frame(b"\x03\xe8bye", op=8, key=b"\x15\x16\x17\x18"))
    seeds["websocket"] = [(REQ, upgrade), (RESP, switch + sluice_gen.ws_frame(b'{"ok":1}')),
                          (REQ, frames)]
    import base64
    mail = (b"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(text) +
            b"--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db=\r\nc\r\n"
            b"..dot\r\n--b--\r\n")
    smtp = {"smtp": [(REQ, b"EHLO c\r\nMAIL FROM:<a@b>\r\nDATA\r\n" + mail +
                      b".\r\nBDAT 7\r\nSubject" + b"BDAT 9 LAST\r\n: y\r\n\r\nz" +
                      b"STARTTLS\r\n\x16\x03")]}
    nested = (b"--o\r\nContent-Type: multipart/alternative;\r\n boundary=\"i\"\r\n\r\n"
              b"--i\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(text) +
              b"--i\r\nContent-Type: multipart/related; boundary=i-2\r\n\r\n--i-2\r\n\r\nq\r\n"
              b"--i--\r\nepilogue\r\n--o  \r\nContent-Transfer-Encoding: quoted-printable\r\n"
              b"\r\na=3Db\r\n--o--\r\n")
    seeds["multipart_nested"] = [(REQ, b"POST /u HTTP/1.1\r\nContent-Type: multipart/mixed; "
                                       b"boundary=o\r\nContent-Length: %d\r\n\r\n"
                                       % len(nested) + nested)]
    for name, parts in seeds.items():
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(chunks(parts))
    for name, parts in smtp.items():
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(chunks(parts, smtp=True))
    seeds.update(smtp)
    print("%d seeds in %s" % (len(seeds), out))


if __name__ == "__main__":
    main()
