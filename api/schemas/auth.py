"""Login, sessions and TOTP enrolment."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, StringConstraints

from api.schemas.common import Code, Strict


class LoginRequest(Strict):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class LoginStarted(BaseModel):
    attempt_id: UUID
    factors: list[Literal["email", "sms", "totp"]]
    expires_at: datetime


class SendCodeRequest(Strict):
    channel: Literal["email", "sms"]


class CodeSent(BaseModel):
    sent_to: str
    expires_at: datetime
    resends_left: int


class VerifyRequest(Strict):
    code: Code | None = None
    totp: Code | None = None


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 scheme name
    expires_at: datetime
    user_id: UUID
    role: str


class Me(BaseModel):
    user_id: UUID
    username: str
    name: str
    role: str
    organisation_id: UUID
    organisation_name: str
    totp_enabled: bool


class TotpEnrolment(BaseModel):
    provisioning_uri: str
    secret: str
    qr_svg: str


class TotpEnrol(Strict):
    """Enrolling or replacing an authenticator needs the password, and the current
    authenticator's code when one is enrolled."""

    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    totp: Code | None = None


class TotpConfirm(Strict):
    code: Code


class PasswordChange(Strict):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    new_password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
