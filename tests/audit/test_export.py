"""Export → offline verification with the public key alone; tampered, truncated and
foreign-key exports fail and say where."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import signing
from audit.chain import AuditStore
from audit.export import verify_export
from audit.service import AuditService
from tests.audit.conftest import History

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgres"])


def write_export(audit: AuditService, path: Path, start: int = 1, end: int | None = None) -> None:
    first, last = audit.export_range(start, end, max_positions=10_000)
    path.write_text("".join(line + "\n" for line in audit.export(first, last)), encoding="utf-8")


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")


def test_export_round_trip(
    audit: AuditService, history: History, store: AuditStore, tmp_path: Path
) -> None:
    digest, _ = audit.sign()
    path = tmp_path / "export.jsonl"
    write_export(audit, path)
    lines = read(path)
    kinds = [x["type"] for x in lines]
    assert kinds[0] == "header" and kinds[1] == "digest" and kinds[-1] == "end"
    events = [x for x in lines if x["type"] == "event"]
    assert len(events) == store.max_position() == lines[-1]["events"]
    produced = next(x for x in events if x["topic"].endswith("OriginCode.Produced"))
    assert produced["event"]["code"] == history.world.codes[0]  # the view for people
    assert (
        base64.b64decode(produced["state"])
        == store.event_rows(produced["position"] - 1, 1)[0].state
    )
    report = verify_export(path, signing.keyring([audit.public_key()]))
    assert report.ok, report.problems
    assert report.anchored_position == digest.position and report.seed_position == 0


def test_a_range_starts_from_the_link_before_it(
    audit: AuditService, history: History, store: AuditStore, tmp_path: Path
) -> None:
    audit.sign()
    path = tmp_path / "range.jsonl"
    write_export(audit, path, 10, 20)
    lines = read(path)
    assert lines[0]["seed_position"] == 9
    assert [x["position"] for x in lines if x["type"] == "event"] == list(range(10, 21))
    report = verify_export(path, signing.keyring([audit.public_key()]))
    assert report.ok and report.events == 11 and report.digests_checked == 0


def test_tampered_export_is_located(audit: AuditService, history: History, tmp_path: Path) -> None:
    audit.sign()
    path = tmp_path / "export.jsonl"
    write_export(audit, path)
    lines = read(path)
    target = next(x for x in lines if x["type"] == "event" and x["position"] == 12)
    doc = json.loads(base64.b64decode(target["state"]))
    doc["timestamp"]["_data_"] = "2020-01-01T00:00:00+00:00"
    target["state"] = base64.b64encode(json.dumps(doc).encode()).decode()
    write(path, lines)
    report = verify_export(path, signing.keyring([audit.public_key()]))
    assert {(p.position, p.kind) for p in report.problems} >= {(12, "edited")}
    assert any(p.kind == "digest_mismatch" for p in report.problems)


def test_dropped_and_truncated_lines_are_reported(
    audit: AuditService, history: History, tmp_path: Path
) -> None:
    audit.sign()
    path = tmp_path / "export.jsonl"
    write_export(audit, path)
    lines = read(path)
    dropped = [x for x in lines if not (x["type"] == "event" and x["position"] == 15)]
    write(path, dropped)
    report = verify_export(path, signing.keyring([audit.public_key()]))
    kinds = {(p.position, p.kind) for p in report.problems}
    assert (16, "edited") in kinds and any(k == "truncated" for _, k in kinds)
    write(path, lines[:-1])
    report = verify_export(path, signing.keyring([audit.public_key()]))
    assert [p.kind for p in report.problems] == ["truncated"]


def test_wrong_public_key_and_forged_signature_fail(
    audit: AuditService, history: History, tmp_path: Path, other_key: Ed25519PrivateKey
) -> None:
    audit.sign()
    path = tmp_path / "export.jsonl"
    write_export(audit, path)
    report = verify_export(path, signing.keyring([other_key.public_key()]))
    assert not report.ok and [p.kind for p in report.problems] == ["digest_unknown_key"]
    lines = read(path)
    digest = next(x for x in lines if x["type"] == "digest")
    digest["signature"] = digest["signature"][:-2] + (
        "00" if digest["signature"][-2:] != "00" else "11"
    )
    write(path, lines)
    report = verify_export(path, signing.keyring([audit.public_key()]))
    assert [p.kind for p in report.problems] == ["digest_signature"]
    # A digest signed by someone else's key but claiming the platform's key id.
    forged = signing.sign_digest(
        other_key, digest["position"], bytes.fromhex(digest["link"]), audit.clock()
    )
    digest.update(signature=forged.signature)
    write(path, lines)
    assert [
        p.kind for p in verify_export(path, signing.keyring([audit.public_key()])).problems
    ] == ["digest_signature"]


def test_garbage_is_reported_not_crashed_on(
    audit: AuditService, history: History, tmp_path: Path
) -> None:
    path = tmp_path / "garbage.jsonl"
    path.write_text("no es json\n[1,2]\n", encoding="utf-8")
    report = verify_export(path, signing.keyring([audit.public_key()]))
    assert not report.ok and report.problems[0].kind == "malformed"
    write_export(audit, path)
    lines = read(path)
    lines[3]["state"] = "%%%"
    lines[4]["position"] = "x"
    write(path, lines)
    report = verify_export(path, signing.keyring([audit.public_key()]))
    assert not report.ok and {"malformed"} <= {p.kind for p in report.problems}
