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


def test_a_body_without_media_type_is_checked_as_json(client: TestClient) -> None:
    """The routes read a body without Content-Type as JSON, so the guards apply to it."""
    r = client.post("/api/v1/auth/login", content=b'{"username": "\xff"}')
    assert r.status_code == 422 and r.json()["code"] == "invalid_encoding"
    r = client.post("/api/v1/auth/login", content=b"[" * 40 + b"]" * 40)
    assert r.status_code == 422 and r.json()["code"] == "json_too_deep"


def test_plus_json_media_types_are_guarded_and_other_types_are_not(client: TestClient) -> None:
    deep = b"[" * 40 + b"]" * 40
    for ctype in ("application/merge-patch+json", "Application/Problem+JSON"):
        r = client.post("/api/v1/auth/login", content=deep, headers={"content-type": ctype})
        assert r.json()["code"] == "json_too_deep", ctype
    # Not JSON (the form of the seller page, a TXT upload): neither guard reads it.
    r = client.post("/api/v1/auth/login", content=deep, headers={"content-type": "text/plain"})
    assert r.json()["code"] != "json_too_deep"


def test_utf16_json_is_refused_and_utf8_accents_are_not(client: TestClient) -> None:
    r = client.post(
        "/api/v1/auth/login",
        content='{"username": "José", "password": "x"}'.encode("utf-16"),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_encoding"
    r = client.post(
        "/api/v1/auth/login",
        content='{"username": "José Ñandú", "password": "contraseña"}'.encode(),
        headers={"content-type": "application/json"},
    )
    assert r.json().get("code") != "invalid_encoding"  # read normally (wrong password)


def test_health_answers_head_and_options(client: TestClient) -> None:
    r = client.head("/health")
    assert r.status_code == 200 and r.content == b""
    r = client.options("/health")
    assert r.status_code == 204
    assert {m.strip() for m in r.headers["allow"].split(",")} == {"GET", "HEAD", "OPTIONS"}
    assert client.get("/health").status_code == 200


def test_the_openapi_declares_head_and_options_on_health(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    ops = spec["paths"]["/health"]
    assert {"get", "head", "options"} <= set(ops)
    assert "200" in ops["head"]["responses"]
    assert "Allow" in ops["options"]["responses"]["204"]["headers"]
