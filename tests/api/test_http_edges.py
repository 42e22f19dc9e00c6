"""Bodies refused at the door, with a declared problem: JSON that is not UTF-8, and the
depth guard whatever the case of the media type."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.problems import MEDIA_TYPE


def test_a_json_body_that_is_not_utf8_is_a_documented_422(client: TestClient) -> None:
    r = client.post(
        "/api/v1/auth/login",
        content=b'{"username": "caf\xe9", "password": "x"}',  # Latin-1, not UTF-8
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422  # declared on every operation that takes a body
    assert r.headers["content-type"] == MEDIA_TYPE
    assert r.json()["code"] == "invalid_encoding"
    assert "UTF-8" in r.json()["detail"]


def test_the_depth_guard_ignores_the_case_of_the_media_type(client: TestClient) -> None:
    deep = b"[" * 40 + b"]" * 40
    for ctype in ("application/json", "Application/JSON", "APPLICATION/JSON; charset=utf-8"):
        r = client.post("/api/v1/auth/login", content=deep, headers={"content-type": ctype})
        assert r.status_code == 422, ctype
        assert r.json()["code"] == "json_too_deep", ctype
