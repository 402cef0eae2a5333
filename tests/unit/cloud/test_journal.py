"""The journal file: records survive, a torn last record is dropped with a warning, damage before it is refused."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from deployer.local.cloud.emulator.journal import JOURNAL_FILE, Entry, Journal, JournalError


def written(folder: Path, *entries: Entry) -> Path:
    journal = Journal(folder)
    assert journal.open() == []
    for entry in entries:
        journal.append(entry)
    journal.close()
    return folder / JOURNAL_FILE


ONE = Entry({"type": "http", "seed": 1, "path": "/"}, b"Action=CreateStack")
TWO = Entry({"type": "record", "seed": 2, "kind": "alias-moved", "data": {"to": "3"}})
THREE = Entry({"type": "http", "seed": 3, "path": "/x"}, bytes(range(256)))


def test_records_come_back_in_order_with_their_bodies(tmp_path: Path) -> None:
    written(tmp_path, ONE, TWO, THREE)
    journal = Journal(tmp_path)
    assert journal.open() == [ONE, TWO, THREE]
    journal.append(Entry({"type": "record", "seed": 4, "kind": "k", "data": {}}))
    journal.close()
    assert len(Journal(tmp_path).open()) == 4


@pytest.mark.parametrize("cut", [1, 3, 9, 17, 30, -1])
def test_a_torn_last_record_is_dropped_with_a_warning_and_appending_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, cut: int
) -> None:
    path = written(tmp_path, ONE, TWO, THREE)
    whole = path.read_bytes()
    good = len(whole) - (16 + len(b'{"type":"http","seed":3,"path":"/x"}') + 256)
    path.write_bytes(whole[: good + cut] if cut > 0 else whole[:-1])  # a write cut short anywhere in the record
    journal = Journal(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert journal.open() == [ONE, TWO]
    assert "dropped a torn last record" in caplog.text and journal.dropped_tail > 0
    assert path.stat().st_size == good
    journal.append(THREE)
    journal.close()
    assert Journal(tmp_path).open() == [ONE, TWO, THREE]


def test_a_last_record_whose_checksum_fails_is_torn_too(tmp_path: Path) -> None:
    path = written(tmp_path, ONE, THREE)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF  # the block was allocated, its bytes never written
    path.write_bytes(bytes(data))
    assert Journal(tmp_path).open() == [ONE]


def test_zeros_after_the_last_record_are_a_torn_write(tmp_path: Path) -> None:
    path = written(tmp_path, ONE)
    path.write_bytes(path.read_bytes() + b"\0" * 4096)
    assert Journal(tmp_path).open() == [ONE]


def test_damage_before_the_last_record_is_refused_not_skipped(tmp_path: Path) -> None:
    path = written(tmp_path, ONE, TWO, THREE)
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF  # inside the first record's header
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError, match="damaged at byte 0 .*checksum"):
        Journal(tmp_path).open()
    path.write_bytes(b"garbage!" + bytes(data))
    with pytest.raises(JournalError, match="damaged at byte 0 .*no record starts there"):
        Journal(tmp_path).open()


def test_a_second_journal_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    first = Journal(tmp_path)
    first.open()
    with pytest.raises(JournalError, match="in use by another server"):
        Journal(tmp_path).open()
    first.close()
    Journal(tmp_path).open()


def test_clear_forgets_every_record_and_spool(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open()
    journal.append(ONE)
    journal.spool_part("upload-1", 0, b"abc")
    journal.clear()
    journal.append(TWO)
    journal.close()
    again = Journal(tmp_path)
    assert again.open() == [TWO] and again.spools() == []


def test_layer_parts_are_kept_at_their_offsets_in_the_uploads_spool(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open()
    journal.spool_part("u-1", 3, b"def")  # a retried part lands where it belongs, whatever the order
    journal.spool_part("u-1", 0, b"abc")
    journal.spool_part("u-1", 3, b"def")
    assert journal.read_part("u-1", 0, 3) == b"abc" and journal.read_part("u-1", 3, 3) == b"def"
    assert journal.read_part("u-1", 3, 4) is None  # not whole
    journal.drop_spool("u-1")
    assert journal.read_part("u-1", 0, 3) is None
    assert journal.read_part("../../etc/passwd", 0, 3) is None  # an upload id never leaves the folder
