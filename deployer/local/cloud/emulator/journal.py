"""The local cloud's journal: every mutation, in order, so a restart can replay them into moto.

moto keeps its state in memory and its backends do not pickle, so the state is journaled
instead of saved: every mutating request the server answered without a 5xx, and every internal
mutation the daemon records, is appended before the answer goes out. Replaying the journal in
order, with the same seeds for moto's random generator, rebuilds the same state with the same
ids (server.py says how). Under `<state_dir>/journal/`:

    journal.log           append-only records, each:  b"OLJ1" | header length | body length |
                          crc32(header + body) (three big-endian u32) | header (JSON) | body
    uploads/<upload id>   the bytes of an ECR layer upload still in progress (parts at their offsets)
    lock                  flock'ed by the server that owns this state dir

Each append is one write() then fsync, so a kill -9 loses at most the request in flight, and
leaves at worst a torn last record (a prefix of one, or one whose checksum fails at the end of
the file): `open()` drops it, truncates the file there and logs a warning. Damage before the last
record is not a torn write; `open()` refuses it (JournalError) rather than replay past a gap.

Layer parts are the bulk of a push's bytes and are not copied into the journal: an
UploadLayerPart record keeps its JSON body without `layerPartBlob` and says where the bytes
are (`part`: upload id, first byte, length). Until the upload completes they are in its spool
file; the CompleteLayerUpload record names the blob they became (`completed`: upload id,
digest), and the spool is removed. On replay a completed upload is not sent again (its layer
is taken from the blob store, ecr_blobs.py); the parts of one still in progress are read back
from its spool.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from deployer.errors import LocalRuntimeError

__all__ = ["Journal", "Entry", "JournalError", "JOURNAL_FILE"]

JOURNAL_FILE = "journal.log"
MAGIC = b"OLJ1"
_HEAD = struct.Struct(">III")
_PREFIX = len(MAGIC) + _HEAD.size
log = logging.getLogger(__name__)


class JournalError(LocalRuntimeError):
    """The journal cannot be read back (damaged before its last record), or its state dir is in use."""


@dataclass(frozen=True)
class Entry:
    """One journaled mutation: `header` (JSON: type, seed, request or record fields) and an HTTP body."""

    header: dict[str, Any]
    body: bytes = field(default=b"", repr=False)


class Journal:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / JOURNAL_FILE
        self._file: IO[bytes] | None = None
        self._lock_file: IO[str] | None = None
        self.dropped_tail = 0  # bytes of a torn last record dropped by open()

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> list[Entry]:
        """Lock the state dir, read every record (dropping a torn last one), open for appending."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "uploads").mkdir(exist_ok=True)
        self._lock_file = open(self.folder / "lock", "a+", encoding="utf-8")
        try:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.seek(0)
            holder = self._lock_file.read().strip()
            self._lock_file.close()
            self._lock_file = None
            raise JournalError(
                f"the local cloud's state in {self.folder.parent} is in use by another server"
                f"{f' (pid {holder})' if holder else ''}; stop it first"
            ) from None
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(str(os.getpid()))
        self._lock_file.flush()
        try:
            entries, good = self._read()
            self._file = open(self.path, "ab")
            if self._file.tell() != good:  # a torn tail: cut it off before appending after it
                self.dropped_tail = self._file.tell() - good
                self._file.truncate(good)
                os.fsync(self._file.fileno())
                log.warning(
                    "local cloud journal %s: dropped a torn last record (%d bytes, a write cut short by a crash); "
                    "the request it held was not answered", self.path, self.dropped_tail,
                )  # fmt: skip
        except BaseException:
            self.close()
            raise
        return entries

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._lock_file is not None:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    # ------------------------------------------------------------------ records

    def append(self, entry: Entry) -> None:
        """Write one record and fsync it: once this returns, a crash keeps it."""
        assert self._file is not None, "Journal.open() first"
        header = json.dumps(entry.header, separators=(",", ":")).encode()
        crc = zlib.crc32(entry.body, zlib.crc32(header))
        self._file.write(MAGIC + _HEAD.pack(len(header), len(entry.body), crc) + header + entry.body)
        self._file.flush()
        os.fsync(self._file.fileno())

    def clear(self) -> None:
        """Forget every record (the server's reset)."""
        assert self._file is not None, "Journal.open() first"
        self._file.truncate(0)
        self._file.seek(0)
        os.fsync(self._file.fileno())
        for spool in (self.folder / "uploads").iterdir():
            spool.unlink(missing_ok=True)

    def _read(self) -> tuple[list[Entry], int]:
        """The records, and the offset where the good ones end."""
        if not self.path.exists():
            return [], 0
        data = self.path.read_bytes()
        entries: list[Entry] = []
        offset = 0
        while offset < len(data):
            rest = data[offset:]
            if not (rest.startswith(MAGIC) or MAGIC.startswith(rest)):
                if not rest.strip(b"\0"):  # zeros where a record's block was allocated but not written
                    break
                raise JournalError(self._damage(offset, "no record starts there"))
            if len(rest) < _PREFIX:
                break
            header_len, body_len, crc = _HEAD.unpack_from(rest, len(MAGIC))
            end = _PREFIX + header_len + body_len
            if len(rest) < end:
                break
            header = rest[_PREFIX : _PREFIX + header_len]
            body = rest[_PREFIX + header_len : end]
            if zlib.crc32(body, zlib.crc32(header)) != crc:
                if offset + end == len(data):
                    break
                raise JournalError(self._damage(offset, "its checksum does not match"))
            entries.append(Entry(json.loads(header), bytes(body)))
            offset += end
        return entries, offset

    def _damage(self, offset: int, what: str) -> str:
        return (
            f"the local cloud's journal {self.path} is damaged at byte {offset} ({what}), before its last record: "
            f"it cannot be replayed past that point. Move the state folder {self.folder.parent} away to start "
            f"an empty local cloud"
        )

    # ------------------------------------------------------------------ layer upload spools

    def spool_part(self, upload_id: str, first_byte: int, data: bytes) -> None:
        """Keep a layer part's bytes at its offset in the upload's spool (fsync'ed)."""
        path = self._spool(upload_id)
        with open(path, "r+b" if path.exists() else "w+b") as out:
            out.seek(first_byte)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())

    def read_part(self, upload_id: str, first_byte: int, length: int) -> bytes | None:
        """A part's bytes, from the upload's spool; None when they are not there (whole)."""
        path = self._spool(upload_id)
        if not path.is_file():
            return None
        with open(path, "rb") as source:
            source.seek(first_byte)
            data = source.read(length)
        return data if len(data) == length else None

    def drop_spool(self, upload_id: str) -> None:
        self._spool(upload_id).unlink(missing_ok=True)

    def spools(self) -> list[str]:
        return [p.name for p in (self.folder / "uploads").iterdir()]

    def _spool(self, upload_id: str) -> Path:
        safe = "".join(c for c in upload_id if c.isalnum() or c in "-_")
        return self.folder / "uploads" / safe
