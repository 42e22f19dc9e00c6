"""A local HTTP server speaking enough of Twilio's Messages API for the real twilio client
(basic auth, form fields To/From/Body, a 201 JSON reply), on 127.0.0.1; it keeps every
message, can be told to fail the next requests, and can be stopped to simulate an outage."""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from notifications.senders import TwilioSmsSender
from testkit.net import free_port

TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "test-auth-token-0123456789"  # noqa: S105 - the stand-in's, not a secret
TWILIO_FROM = "+15005550006"

_MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json$")


@dataclass(frozen=True)
class Sms:
    """One Messages API request as the stand-in got it."""

    account_sid: str
    to: str
    from_: str
    body: str
    sid: str


class TwilioStandIn:
    """Speaks enough of ``POST /2010-04-01/Accounts/{Sid}/Messages.json`` for the real
    twilio client: basic auth, form fields To/From/Body, a 201 JSON reply."""

    def __init__(self) -> None:
        self.port = free_port()
        self.lock = threading.Lock()
        self.messages: list[Sms] = []
        #: Replies to give instead of accepting, first in first out: (status, json body).
        self.fail_next: list[tuple[int, dict[str, Any]]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self._server is None
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def reply(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                m = _MESSAGES_PATH.match(self.path)
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode("utf-8"))
                if m is None:
                    self.reply(404, {"code": 20404, "message": "Not found", "status": 404})
                    return
                expected = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}" or (
                    m.group(1) != TWILIO_SID
                ):
                    self.reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
                    return
                with stand_in.lock:
                    failure = stand_in.fail_next.pop(0) if stand_in.fail_next else None
                if failure is not None:
                    self.reply(*failure)
                    return
                to, from_, body = (form.get(k, [""])[0] for k in ("To", "From", "Body"))
                if not re.fullmatch(r"\+[1-9][0-9]{7,14}", to) or not body:
                    self.reply(
                        400,
                        {
                            "code": 21211,
                            "message": f"Invalid 'To' Phone Number: {to}",
                            "status": 400,
                        },
                    )
                    return
                sid = "SM" + uuid.uuid4().hex
                with stand_in.lock:
                    stand_in.messages.append(Sms(m.group(1), to, from_, body, sid))
                now = format_datetime(datetime.now(tz=UTC))
                self.reply(
                    201,
                    {
                        "account_sid": m.group(1),
                        "api_version": "2010-04-01",
                        "body": body,
                        "date_created": now,
                        "date_sent": None,
                        "date_updated": now,
                        "direction": "outbound-api",
                        "error_code": None,
                        "error_message": None,
                        "from": from_,
                        "messaging_service_sid": None,
                        "num_media": "0",
                        "num_segments": "1",
                        "price": None,
                        "price_unit": "USD",
                        "sid": sid,
                        "status": "queued",
                        "subresource_uris": {},
                        "to": to,
                        "uri": f"/2010-04-01/Accounts/{m.group(1)}/Messages/{sid}.json",
                    },
                )

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=10)
            self._server = None
            self._thread = None

    def received(self) -> list[Sms]:
        with self.lock:
            return list(self.messages)

    def sender(self, **kwargs: Any) -> TwilioSmsSender:
        options: dict[str, Any] = {
            "account_sid": TWILIO_SID,
            "auth_token": TWILIO_TOKEN,
            "from_number": TWILIO_FROM,
            "base_url": self.base_url,
            "timeout_s": 5.0,
        }
        options.update(kwargs)
        return TwilioSmsSender(**options)
