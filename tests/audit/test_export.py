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
from tests.audit.conftest import History, make_history

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


LEGACY_HASH = "scrypt$10$8$1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U="


def _legacy_user(services: Any) -> None:
    """A user stored the old way: the hash in ``Registered`` and ``PasswordChanged``,
    the sealed secret in ``TotpEnrolmentStarted`` (what deployments already hold)."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from ledger.identity import User  # noqa: PLC0415

    now = datetime(2026, 11, 1, tzinfo=UTC)
    user = User(
        username="antigua",
        name="Antigua",
        email="antigua@example.co",
        mobile="+573001234567",
        role="auditor",
        organisation_id=services.ledger.new_id(),
        registered_at=now,
        password_hash=LEGACY_HASH,
    )
    user._password_changed(password_hash=LEGACY_HASH + "2", at=now)
    user._totp_enrolment_started(sealed_secret="SELLADO-ANTIGUO", at=now)
    services.ledger.save(user)


def test_old_credentials_are_redacted_and_the_export_still_verifies(
    audit: AuditService, history: History, store: AuditStore, services: Any, tmp_path: Path
) -> None:
    _legacy_user(services)
    digest, _ = audit.sign()
    path = tmp_path / "export.jsonl"
    write_export(audit, path)
    text = path.read_text(encoding="utf-8")
    lines = read(path)
    # Neither the decoded view nor the exported bytes carry the hash or the secret.
    for needle in ("scrypt$", "SELLADO-ANTIGUO"):
        assert needle not in text
        assert all(
            needle.encode() not in base64.b64decode(x["state"])
            for x in lines
            if x["type"] == "event" and x["state"] is not None
        )
    user_lines = [x for x in lines if x["type"] == "event" and ":User." in x["topic"]]
    assert [x["event"].get("password_hash") for x in user_lines[:2]] == ["[redactado]"] * 2
    assert user_lines[2]["event"]["sealed_secret"] == "[redactado]"
    assert all(x["state_redacted"] and x["state"] is None for x in user_lines)
    # The stored rows are untouched, so the chain verifies, online and offline.
    assert audit.verify().ok
    report = verify_export(path, signing.keyring([audit.public_key()]))
    assert report.ok, report.problems
    assert report.anchored_position == digest.position == store.max_position()


def test_a_redacted_line_with_a_forged_link_is_caught(
    audit: AuditService, services: Any, clock: Any, tmp_path: Path
) -> None:
    _legacy_user(services)
    make_history(services, clock, confirmed=1)  # more events after the old user
    audit.sign()
    path = tmp_path / "export.jsonl"
    write_export(audit, path)
    lines = read(path)
    # The last redacted line before an ordinary one: the next link is recomputed from it.
    i = max(i for i, x in enumerate(lines) if x.get("state_redacted"))
    assert lines[i + 1]["type"] == "event" and not lines[i + 1].get("state_redacted")
    lines[i]["link"] = "00" * 32
    write(path, lines)
    assert not verify_export(path, signing.keyring([audit.public_key()])).ok


def test_replay_decoder_redacts_old_credentials(
    history: History, store: AuditStore, services: Any
) -> None:
    from audit.replay import Decoder  # noqa: PLC0415

    _legacy_user(services)
    decoder = Decoder(services.ledger.mapper)
    rows = [r for r in store.event_rows(0, 10_000) if ":User." in r.topic]
    shown = [decoder.as_plain(r) for r in rows]
    assert shown[0]["password_hash"] == "[redactado]"
    assert shown[2]["sealed_secret"] == "[redactado]"
    assert "scrypt$" not in json.dumps(shown, default=str)
