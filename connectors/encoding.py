"""Text encodings of department files: detection and line-by-line tolerant decoding.

Departments send UTF-8 (with or without BOM), GBK/GB2312 (read as gb18030, a superset that keeps
the middle dot of minority names) and UTF-16 with BOM from Excel's "Unicode text". A file can mix
encodings when rows were pasted together; decoding marks the physical lines with undecodable
bytes so the readers quarantine those records and load the rest.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from charset_normalizer import from_bytes

from safetynet.errors import ConfigError

CHUNK_BYTES = 1 << 20
SAMPLE_BYTES = 64 << 10
SCAN_LIMIT_BYTES = 64 << 20
_GB_FAMILY = {"gbk", "gb2312", "gb18030", "hz", "cp936", "euc_cn", "iso2022_cn"}
_BOMS = (  # longest first: the UTF-32-LE BOM starts with the UTF-16-LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_MARK_HANDLER = "safetynet.mark"
_MARKED = re.compile("[\udc00-\udcff]")


def _mark_undecodable(exc: UnicodeError) -> tuple[str, int]:
    """Decoding error handler: each bad byte becomes a lone surrogate U+DC00 + byte."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start:exc.end]
    return "".join(chr(0xDC00 + b) for b in bad), exc.end


codecs.register_error(_MARK_HANDLER, _mark_undecodable)


def has_undecodable(text: str) -> bool:
    """True when text holds bytes marked as undecodable."""
    return _MARKED.search(text) is not None


def show_undecodable(text: str) -> str:
    """Text with undecodable bytes shown as ``\\xNN`` (safe to store)."""
    return _MARKED.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)


def normalise_encoding(name: str, *, source: str | None = None) -> str:
    """Python codec name for a configured encoding; the GB family is read as gb18030."""
    try:
        codec = codecs.lookup(name.strip()).name
    except LookupError:
        raise ConfigError(f"unknown encoding '{name}' / 未知的字符编码", source=source) from None
    if codec in _GB_FAMILY:
        return "gb18030"
    if codec == "utf-8-sig":
        return "utf-8"
    return codec


@dataclass(frozen=True)
class Encoding:
    """How a file is decoded: codec (BOM-less), BOM length to skip, how it was chosen."""

    codec: str
    bom_bytes: int
    how: str


def _bom(head: bytes) -> tuple[str, int] | None:
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, len(bom)
    return None


def _resolve_bom(codec: str, head: bytes) -> Encoding:
    """A configured codec, adjusted by the file's BOM (utf-16/32 endianness, BOM skipped)."""
    found = _bom(head)
    if codec in ("utf-16", "utf-32"):
        if found and found[0].startswith(codec):
            return Encoding(found[0], found[1], "configured")
        return Encoding(f"{codec}-le", 0, "configured")
    if found and found[0] == codec:
        return Encoding(codec, found[1], "configured")
    return Encoding(codec, 0, "configured")


def _sample(fh: BinaryIO, start: int) -> bytes:
    """Bytes to detect from: the head, or the first region with non-ASCII bytes, whole lines."""
    fh.seek(start)
    head = fh.read(SAMPLE_BYTES)
    if head.isascii():
        scanned = len(head)
        while scanned < SCAN_LIMIT_BYTES:
            chunk = fh.read(CHUNK_BYTES)
            if not chunk:
                break
            scanned += len(chunk)
            if not chunk.isascii():
                first = next(i for i, b in enumerate(chunk) if b > 0x7F)
                line_start = chunk.rfind(b"\n", 0, first) + 1
                head = chunk[line_start:line_start + SAMPLE_BYTES]
                if len(head) < SAMPLE_BYTES:
                    head += fh.read(SAMPLE_BYTES - len(head))
                break
    cut = head.rfind(b"\n")
    if cut > 0 and len(head) >= SAMPLE_BYTES:
        head = head[:cut + 1]
    return head


def _line_votes(sample: bytes, codec: str) -> tuple[int, int]:
    """(non-ASCII lines that decode, lines that fail) for one codec over the sample."""
    ok = failing = 0
    for line in sample.split(b"\n"):
        if line.isascii():
            continue
        try:
            line.decode(codec)
            ok += 1
        except UnicodeDecodeError:
            failing += 1
    return ok, failing


def detect_encoding(fh: BinaryIO, configured: str = "auto", *,
                    source: str | None = None) -> Encoding:
    """Choose the codec of a seekable binary file; leaves the position at the first text byte.

    ``auto``: a BOM decides; else UTF-8 when most non-ASCII lines of the sample are valid UTF-8
    (GBK text practically never is, so a few pasted GBK rows do not flip a UTF-8 file); else
    charset-normalizer's answer when it names UTF-8/16/32 or the GB family (read as gb18030);
    else (it misreads short GBK samples as cp949, big5 ...) whichever of UTF-8 and gb18030
    decodes more lines of the sample.
    """
    fh.seek(0)
    head = fh.read(4)
    if configured.strip().lower() != "auto":
        enc = _resolve_bom(normalise_encoding(configured, source=source), head)
        fh.seek(enc.bom_bytes)
        return enc
    found = _bom(head)
    if found:
        fh.seek(found[1])
        return Encoding(found[0], found[1], "BOM")
    sample = _sample(fh, 0)
    fh.seek(0)
    utf8_ok, utf8_bad = _line_votes(sample, "utf-8")
    if utf8_bad == 0:
        return Encoding("utf-8", 0, "auto:utf-8")
    if utf8_ok > utf8_bad:
        return Encoding("utf-8", 0, f"auto:utf-8 ({utf8_bad} sample lines are not)")
    best = from_bytes(sample).best()
    guess = normalise_encoding(best.encoding) if best else None
    if guess in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be", "gb18030"):
        return Encoding(guess, 0, f"auto:charset-normalizer={best.encoding}")
    _, gb_bad = _line_votes(sample, "gb18030")
    codec = "utf-8" if utf8_bad < gb_bad else "gb18030"
    return Encoding(codec, 0, f"auto:line-vote (charset-normalizer={guess})")


class DecodedLines:
    """The text lines of a binary file (newline kept), decoded chunk by chunk.

    A chunk that decodes strictly is split at C speed; a chunk with undecodable bytes is decoded
    with those bytes marked, and the physical line numbers holding them land in ``bad_lines``
    before those lines are yielded. Only ``\\n`` ends a line (``\\r\\n`` keeps its ``\\r``),
    except in a file with no ``\\n`` at all but ``\\r`` (classic Mac line ends).
    ``sha256`` covers every byte of the file once iteration is complete.
    """

    def __init__(self, fh: BinaryIO, encoding: Encoding, *, chunk_bytes: int = CHUNK_BYTES):
        self._fh = fh
        self.encoding = encoding
        self._chunk_bytes = chunk_bytes
        self._nl = "\n"
        fh.seek(encoding.bom_bytes)
        head = fh.read(SAMPLE_BYTES)
        if "\n".encode(encoding.codec) not in head and "\r".encode(encoding.codec) in head:
            self._nl = "\r"
        self._newline = self._nl.encode(encoding.codec)
        self._unit = len(self._newline)
        self.bad_lines: set[int] = set()
        self.lines_seen = 0
        self._hash = hashlib.sha256()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def __iter__(self) -> Iterator[str]:
        return itertools.chain.from_iterable(
            io.StringIO(text, newline=self._nl) for text in self._texts())

    def _cut(self, buf: bytes) -> int:
        """Index just after the last whole line in buf (0 if none)."""
        idx = buf.rfind(self._newline)
        while idx > 0 and idx % self._unit:
            idx = buf.rfind(self._newline, 0, idx + self._unit - 1)
        return idx + self._unit if idx >= 0 and idx % self._unit == 0 else 0

    def _texts(self) -> Iterator[str]:
        self.bad_lines.clear()
        self.lines_seen = 0
        self._hash = hashlib.sha256()
        self._fh.seek(0)
        self._hash.update(self._fh.read(self.encoding.bom_bytes))
        pending = b""
        while True:
            block = self._fh.read(self._chunk_bytes)
            self._hash.update(block)
            buf = pending + block
            if not block:
                if buf:
                    yield self._decode(buf)
                return
            cut = self._cut(buf)
            if cut == 0:
                pending = buf
                continue
            pending = buf[cut:]
            yield self._decode(buf[:cut])

    def _decode(self, chunk: bytes) -> str:
        try:
            text = chunk.decode(self.encoding.codec)
        except UnicodeDecodeError:
            text = chunk.decode(self.encoding.codec, _MARK_HANDLER)
            for match in _MARKED.finditer(text):
                self.bad_lines.add(self.lines_seen + text.count(self._nl, 0, match.start()) + 1)
        self.lines_seen += text.count(self._nl)
        if text and not text.endswith(self._nl):
            self.lines_seen += 1
        return text
