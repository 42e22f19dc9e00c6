"""One settings object for the service, the CLI, the workers and alembic.

Every setting is read from the environment with the ``PTM_`` prefix (or a ``.env``
file). Secrets have no default outside development: in development they are generated
once and kept in ``var/dev-secrets.json`` so a restarted service still verifies codes it
issued before.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_NAMES = ("code_hmac_key", "session_key", "statement_key", "signing_key_seed")


class Settings(BaseSettings):
    """Settings of PTM Ledger."""

    model_config = SettingsConfigDict(env_prefix="PTM_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    #: ``memory://``, ``sqlite:///path/file.sqlite3`` or ``postgresql://user:pw@host:port/db``
    #: (``?schema=name`` selects a schema).
    database_url: str = "sqlite:///var/ptm.sqlite3"
    var_dir: Path = Path("var")

    code_hmac_key: SecretStr | None = None
    session_key: SecretStr | None = None
    statement_key: SecretStr | None = None
    signing_key_seed: SecretStr | None = None
    #: Encrypt event payloads at rest (base64 AES key, see eventsourcing's AESCipher).
    cipher_key: SecretStr | None = None
    compress_events: bool = False

    code_digits: int = Field(6, ge=6, le=12)
    code_ttl_s: int = Field(30 * 60, ge=60, le=24 * 3600)
    code_max_failed: int = Field(5, ge=1, le=20)
    code_max_resends: int = Field(3, ge=0, le=10)
    reservation_ttl_s: int = Field(24 * 3600, ge=300, le=30 * 24 * 3600)
    #: Wrong acceptance codes one buyer may give on one seller's purchases per window,
    #: before it can neither submit to that seller nor try codes until the window passes.
    guard_wrong_codes: int = Field(10, ge=1, le=10_000_000)
    guard_wrong_codes_window_s: int = Field(24 * 3600, ge=60, le=30 * 24 * 3600)
    #: Messages (acceptance codes, seller URLs, web-service tokens) one seller may be
    #: sent on buyers' requests per window; benchmarks raise it, never disable it.
    guard_seller_messages: int = Field(20, ge=1, le=10_000_000)
    guard_seller_messages_window_s: int = Field(3600, ge=60, le=24 * 3600)
    snapshot_interval: int = Field(200, ge=10, le=100_000)
    aggregate_cache_size: int = Field(10_000, ge=0, le=1_000_000)
    postgres_pool_size: int = Field(10, ge=1, le=200)
    advisory_locks: bool = True
    projection_page_size: int = Field(5000, ge=1, le=10_000)
    #: Seconds between signed digests of the audit chain head (0: no periodic signing).
    audit_sign_interval_s: int = Field(300, ge=0, le=86_400)

    #: Base of the links e-mailed to sellers (the public address of this service). When
    #: not set, ``ptm serve`` uses the address it binds (``--host``/``--port``); an
    #: explicit value wins (behind a proxy, the address sellers reach).
    public_base_url: str | None = None
    #: Login codes by e-mail offered as a second factor (SMS and TOTP always are). Off
    #: (``PTM_LOGIN_EMAIL_CODES=false``): "email" is neither offered nor sent, platform-wide.
    login_email_codes: bool = True
    #: Largest TXT statement upload accepted (bytes).
    upload_max_bytes: int = Field(1_000_000, ge=1_000, le=10_000_000)
    #: Reads (``X-PTM-Min-Position``) one process lets wait at a time; the next gets 503.
    read_waiters_max: int = Field(64, ge=1, le=100_000)

    #: Where messages go: ``file`` (a local outbox folder a person reads with
    #: ``ptm outbox``; the embedded default) or ``smtp`` (+ Twilio for SMS).
    notifications_backend: Literal["file", "smtp"] = "file"
    outbox_dir: Path = Path("var/outbox")
    mail_from: str = "Agencia Nacional de Minería <no-responder@anm.gov.co>"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    #: ``none``, ``starttls`` or ``tls`` (implicit TLS, usually port 465).
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = Field(10.0, gt=0, le=120)
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: SecretStr | None = None
    twilio_from: str = "+15005550006"
    #: Base URL of the Twilio REST API; tests point it at a local stand-in.
    twilio_base_url: str = "https://api.twilio.com"
    notify_batch: int = Field(50, ge=1, le=1000)
    notify_max_backoff_s: float = Field(300.0, ge=1, le=3600)
    #: Sellers' web-service endpoints: plain ``http`` and loopback addresses are refused
    #: unless these development allowances are set (never in production); tests that run
    #: a local receiver on http://127.0.0.1 set both explicitly.
    webhook_allow_http: bool = False
    webhook_allow_loopback: bool = False
    #: Timeouts of one web-service delivery: connect, each read/write, and the whole.
    webhook_connect_timeout_s: float = Field(3.0, gt=0, le=30)
    webhook_timeout_s: float = Field(5.0, gt=0, le=60)
    webhook_total_timeout_s: float = Field(15.0, gt=0, le=120)

    @model_validator(mode="after")
    def _secrets_outside_development(self) -> Settings:
        if self.env == "production":
            missing = [n for n in SECRET_NAMES if getattr(self, n) is None]
            if missing:
                raise ValueError(
                    "production needs secrets: " + ", ".join(f"PTM_{n.upper()}" for n in missing)
                )
        return self

    @model_validator(mode="after")
    def _webhook_allowances_outside_production(self) -> Settings:
        if self.env == "production" and (self.webhook_allow_http or self.webhook_allow_loopback):
            raise ValueError(
                "PTM_WEBHOOK_ALLOW_HTTP and PTM_WEBHOOK_ALLOW_LOOPBACK are for development only"
            )
        return self

    def secret(self, name: str) -> bytes:
        """A secret's bytes; in development/test generated once and kept under var/."""
        assert name in SECRET_NAMES, name
        value: SecretStr | None = getattr(self, name)
        if value is not None:
            return value.get_secret_value().encode("utf-8")
        assert self.env != "production"
        return _dev_secret(self.var_dir, name)

    def is_memory(self) -> bool:
        return self.database_url.startswith("memory:")

    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql:", "postgres:"))

    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")


#: Where the e-mailed links point when nothing else says (``ptm serve``'s default bind).
DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:8000"


def _dev_secret(var_dir: Path, name: str) -> bytes:
    path = var_dir / "dev-secrets.json"
    var_dir.mkdir(parents=True, exist_ok=True)
    data: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    if name not in data:
        data[name] = secrets.token_hex(32)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    return data[name].encode("utf-8")


def eventsourcing_env(settings: Settings, *, create_table: bool = True) -> dict[str, str]:
    """Map the one persistence setting onto the eventsourcing environment."""
    url = settings.database_url
    env: dict[str, str] = {
        "AGGREGATE_CACHE_MAXSIZE": str(settings.aggregate_cache_size),
        "IS_SNAPSHOTTING_ENABLED": "y",
        "CREATE_TABLE": "y" if create_table else "n",
        "ORIGINATOR_ID_TYPE": "uuid",
    }
    if settings.cipher_key is not None:
        env["CIPHER_TOPIC"] = "eventsourcing.cipher:AESCipher"
        env["CIPHER_KEY"] = settings.cipher_key.get_secret_value()
    if settings.compress_events:
        env["COMPRESSOR_TOPIC"] = "eventsourcing.compressor:ZlibCompressor"
    if url.startswith("memory:"):
        env["PERSISTENCE_MODULE"] = "adapters.storage.memory:Factory"
        return env
    if url.startswith("sqlite:"):
        path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url[7:]
        if not path:
            raise ValueError("sqlite URL without a file path: sqlite:///path/to/file.sqlite3")
        if path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        env["PERSISTENCE_MODULE"] = "adapters.storage.sqlite:Factory"
        env["SQLITE_DBNAME"] = path
        env["SQLITE_LOCK_TIMEOUT"] = "30"
        return env
    if url.startswith(("postgresql:", "postgres:")):
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        env.update(
            {
                "PERSISTENCE_MODULE": "adapters.storage.postgres:Factory",
                "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
                "POSTGRES_HOST": parts.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(parts.port or 5432),
                "POSTGRES_USER": unquote(parts.username or "postgres"),
                "POSTGRES_PASSWORD": unquote(parts.password or ""),
                "POSTGRES_POOL_SIZE": str(settings.postgres_pool_size),
                "POSTGRES_MAX_OVERFLOW": str(settings.postgres_pool_size),
                # The library retries a failed call 10 times: a short connect timeout keeps
                # a request during an outage from hanging for a minute before its 503.
                "POSTGRES_CONNECT_TIMEOUT": "2",
                "POSTGRES_LOCK_TIMEOUT": "10",
            }
        )
        if "schema" in query:
            env["POSTGRES_SCHEMA"] = query["schema"][0]
        return env
    raise ValueError(f"unsupported database URL: {url!r} (memory://, sqlite:///…, postgresql://…)")
