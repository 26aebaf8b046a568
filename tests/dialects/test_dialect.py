"""The EVENT dialect: id block, payload sizes, compactness, and the committed bindings."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from dialects import event, generate
from tests.samples import all_classes, event_classes

BLOCK = range(24100, 24200)
INNER = range(24100, 24120)
ENVELOPE_FIXED = 7  # counter, src, dst, meta: EVENT_ENVELOPE's payload minus its data
SEAL_OVERHEAD = ENVELOPE_FIXED + 1 + 16  # + inner type byte + Poly1305 tag


def test_every_payload_fits_one_frame(report: Callable[[str], None]) -> None:
    sizes = {cls.msgname: cls.unpacker.size for cls in all_classes()}
    assert all(size <= 255 for size in sizes.values()), {n: s for n, s in sizes.items() if s > 255}
    ours = {cls.msgname: cls.unpacker.size for cls in event_classes()}
    name, size = max(ours.items(), key=lambda item: item[1])
    overall = max(sizes.items(), key=lambda item: item[1])
    report(f"dialect: largest EVENT payload {name} {size} B")
    report(f"dialect: largest payload of all {overall[0]} {overall[1]} B")
    assert size <= 255


def test_event_messages_use_their_block_only() -> None:
    upstream = generate.UPSTREAM_XML / "ardupilotmega.xml"
    assert upstream.exists()
    ids = [cls.id for cls in event_classes()]
    assert len(ids) == 21
    assert all(i in BLOCK for i in ids)
    # The block is unallocated upstream: nothing but our messages lives in it.
    assert [i for i in event.mavlink_map if i in BLOCK] == sorted(ids)


def test_inner_messages_fit_the_seal() -> None:
    inner = [cls for cls in event_classes() if cls.id in INNER]
    # The sealed plaintext names the inner message in one byte: id - 24100 < 128.
    assert all(cls.id - 24100 < 128 for cls in inner)
    assert all(cls.unpacker.size + SEAL_OVERHEAD <= 255 for cls in inner)
    envelope = event.MAVLink_event_envelope_message
    assert envelope.unpacker.size - envelope.array_lengths[-1] == ENVELOPE_FIXED


def test_detection_is_compact_when_sealed(report: Callable[[str], None]) -> None:
    sealed = event.MAVLink_event_detection_message.unpacker.size + SEAL_OVERHEAD
    report(f"dialect: sealed detection payload {sealed} B, {sealed + 25} B on the air signed")
    assert sealed < 100


def test_enums_for_priority_type_and_outcome() -> None:
    assert event.EVENT_PRIORITY_CRITICAL < event.EVENT_PRIORITY_LOW
    assert event.EVENT_MSG_TYPE_DETECTION in event.enums["EVENT_MSG_TYPE"]
    assert event.EVENT_OUTCOME_NOT_ARMABLE in event.enums["EVENT_OUTCOME"]


def test_ardupilot_messages_are_included() -> None:
    assert event.MAVLINK_MSG_ID_HEARTBEAT == 0
    assert event.MAVLINK_MSG_ID_MISSION_ITEM_INT in event.mavlink_map
    assert event.MAVLINK_MSG_ID_EKF_STATUS_REPORT in event.mavlink_map  # ardupilotmega.xml


def test_committed_bindings_match_the_xml() -> None:
    assert not generate.drifted(), "run: python -m dialects.generate"


def test_drift_check_fails_on_a_changed_xml(tmp_path: Path) -> None:
    changed = tmp_path / "event.xml"
    text = generate.XML.read_text()
    changed.write_text(text.replace('name="confidence" units="%"', 'name="certainty" units="%"'))
    assert changed.read_text() != text
    assert generate.drifted(changed)
    untouched = tmp_path / "same.xml"
    shutil.copy(generate.XML, untouched)
    assert not generate.drifted(untouched)


def test_drift_check_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generate.main(["--check"]) == 0
    assert "matches" in capsys.readouterr().out
    changed = tmp_path / "event.xml"
    changed.write_text(generate.XML.read_text().replace('name="speed"', 'name="cruise"'))
    assert generate.main(["--check", "--xml", str(changed)]) == 1
    assert "out of date" in capsys.readouterr().err


def test_invalid_xml_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "event.xml"
    broken.write_text(generate.XML.read_text().replace('id="24106"', 'id="24100"'))
    with pytest.raises(generate.GenerationError, match="mavgen failed"):
        generate.generate(broken)
