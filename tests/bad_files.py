"""Files that look like pictures to a reader that trusts them, for the input-safety tests."""

from __future__ import annotations

from pathlib import Path


def png_header(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims `width` x `height` pixels and which holds almost no data:
    what a decompression bomb looks like to a reader that trusts the header."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
