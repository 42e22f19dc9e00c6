"""A worker killed (SIGKILL) between the provider's acceptance and ``mark_sent``, over and
over, on a store shared across processes: nothing is lost and every duplicate is
explained by a kill (and recognisable by its outbox key and Message-ID)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from ledger.application import Ledger
from notifications.outbox import SENT
from ptm.settings import Settings
from testkit.mailserver import MAIL_FROM, SmtpStandIn
from testkit.sms import TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN, TwilioStandIn
from tests.conftest import BACKENDS
from tests.helpers import make_world, outbox

ROOT = Path(__file__).resolve().parents[2]
PURCHASES = 11  # 22 rows, plus 2 confirmations: 24 rows, so 23 kills at 2 sends a life
KILL_AFTER = 2  # the first send of a life re-sends the row the last one died on
MAX_LIVES = 80
SHARED = [b for b in ("sqlite", "postgres") if b in BACKENDS]


@pytest.mark.parametrize("backend", SHARED, indirect=True)
def test_killed_workers_lose_nothing_and_duplicate_at_most_once_per_kill(
    ledger: Ledger,
    settings: Settings,
    smtp_server: SmtpStandIn,
    twilio_server: TwilioStandIn,
) -> None:
    world = make_world(ledger)
    submitted = [world.submitted() for _ in range(PURCHASES)]
    pid, code = submitted[0]
    ledger.validate_purchase(purchase_id=pid, buyer_id=world.buyer, code=code, actor="buyer-user")
    box = outbox(ledger)
    rows = box.all()
    assert len(rows) == 2 * PURCHASES + 2
    codes = {c for _, c in submitted}

    kills = 0
    for _ in range(MAX_LIVES):
        proc = subprocess.run(  # noqa: PLW1510 - the return code is checked below
            [
                sys.executable,
                "-m",
                "tests.notifications.crash_worker",
                f"--database-url={settings.database_url}",
                f"--mail-from={MAIL_FROM}",
                f"--twilio-sid={TWILIO_SID}",
                f"--twilio-token={TWILIO_TOKEN}",
                f"--twilio-from={TWILIO_FROM}",
                f"--smtp-port={smtp_server.port}",
                f"--twilio-url={twilio_server.base_url}",
                f"--kill-after={KILL_AFTER}",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if proc.returncode == -signal.SIGKILL:
            kills += 1
            continue
        assert proc.returncode == 0, proc.stderr
        break
    else:
        pytest.fail(f"still not done after {MAX_LIVES} worker lives")

    assert kills >= 20
    after = box.all()
    assert {r.key for r in after} == {r.key for r in rows}
    assert all(r.status == SENT for r in after), [r for r in after if r.status != SENT]

    mails = smtp_server.messages
    per_key = Counter(m.key for m in mails)
    email_keys = {r.key for r in rows if r.channel == "email"}
    assert set(per_key) == email_keys  # none lost, nothing foreign
    ids: defaultdict[str, set[str]] = defaultdict(set)
    for m in mails:
        ids[m.key].add(str(m.message["Message-ID"]))
    assert all(len(v) == 1 for v in ids.values())  # a duplicate carries the same id

    sms = twilio_server.received()
    per_code = Counter(c for s in sms for c in codes if c in s.body)
    assert set(per_code) == codes  # every SMS arrived

    duplicates = (len(mails) - len(per_key)) + (len(sms) - len(per_code))
    assert 0 < duplicates <= kills
