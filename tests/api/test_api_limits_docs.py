"""Request bodies over ``LEADWISE_MAX_BODY_BYTES`` get a 413 without being read whole; ``/docs`` and
``/redoc`` serve their assets from the package; every operation with a body has a request example."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from tests.api.conftest import make_env

LIMIT = 4096


@pytest.fixture
def small_env(tmp_path: Path, migrated_template: Path) -> Iterator:
    yield from make_env(tmp_path, migrated_template, max_body_bytes=LIMIT)


def _call(app, *, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, dict, int]:
    """POST /v1/route straight through ASGI: the status, the JSON body and how many chunks were read."""
    read = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal read
        read += 1
        more = read < len(chunks)
        return {"type": "http.request", "body": chunks[read - 1], "more_body": more}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/v1/route", "raw_path": b"/v1/route", "root_path": "", "query_string": b"",
        "headers": [(b"content-type", b"application/json"), *headers], "client": ("t", 1), "server": ("t", 80),
    }
    anyio.run(app, scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body or b"null") if body[:1] == b"{" else {"raw": body}, read


def test_a_declared_length_over_the_limit_is_refused_before_reading(small_env) -> None:
    chunks = [b"x" * 1024] * 1000  # a megabyte that should never be read
    status, body, read = _call(small_env.client.app, headers=[(b"content-length", str(1024 * 1000).encode())], chunks=chunks)
    assert status == 413 and body["error"] == "payload_too_large" and str(LIMIT) in body["detail"]
    assert read == 0


def test_a_streamed_body_is_cut_off_at_the_limit(small_env) -> None:
    chunks = [b" " * 1024] * 1000  # chunked: no Content-Length
    status, body, read = _call(small_env.client.app, headers=[], chunks=chunks)
    assert status == 413 and body["error"] == "payload_too_large"
    assert read == LIMIT // 1024 + 1  # the first chunk over the limit, not one more


def test_bodies_under_the_limit_pass_and_a_large_one_over_http_gets_the_usual_error(small_env) -> None:
    lead = {"lead_id": "small", "product": "GTX Pro"}
    assert small_env.client.post("/v1/route", json=lead, headers=small_env.h("integration")).status_code == 201
    big = {"lead_id": "big", "account": "x" * 100, "touches": [
        {"timestamp": "2024-05-01T09:00:00Z", "channel": "web" * 30, "touch_type": "visit"}] * 60}
    answer = small_env.client.post("/v1/route", json=big, headers=small_env.h("integration"))
    assert answer.status_code == 413 and answer.json()["error"] == "payload_too_large"
    assert small_env.client.get("/v1/leads/big", headers=small_env.h("manager")).status_code == 404


def test_docs_pages_load_their_assets_from_the_package(env) -> None:
    for page in ("/docs", "/redoc"):
        html = env.client.get(page).text
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)
        assert urls, html
        for url in urls:
            assert url.startswith("/"), f"{page} loads {url} from elsewhere"
            assert env.client.get(url).status_code == 200, url
    assert "swagger-ui-bundle.js" in env.client.get("/docs").text
    assert "redoc.standalone.js" in env.client.get("/redoc").text
    assert env.client.get("/docs-static/redoc.standalone.js").headers["content-type"].startswith(
        ("application/javascript", "text/javascript")
    )


def test_every_operation_with_a_body_has_a_request_example(env) -> None:
    schema = env.client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    missing = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if content is None:
                continue
            body = content["schema"]
            ref = body.get("$ref") or next((s["$ref"] for s in body.get("anyOf", ()) if "$ref" in s), "")
            model = components.get(ref.rsplit("/", 1)[-1], {})
            if not (content.get("example") or content.get("examples") or model.get("examples")):
                missing.append(f"{method.upper()} {path}")
    assert missing == []


def test_every_request_example_is_valid_for_its_model() -> None:
    from pydantic import BaseModel

    from leadwise.api import schemas

    checked = 0
    for model in vars(schemas).values():
        if isinstance(model, type) and issubclass(model, BaseModel) and model is not BaseModel:
            extra = model.model_config.get("json_schema_extra")
            for example in extra.get("examples", []) if isinstance(extra, dict) else []:
                model.model_validate(example)
                checked += 1
    assert checked >= 12


def test_the_flow_example_is_a_flow_the_service_accepts(env) -> None:
    from leadwise.api.schemas import FlowIn

    (example,) = FlowIn.model_config["json_schema_extra"]["examples"]  # type: ignore[index]
    assert env.client.post("/v1/flows", json=example, headers=env.h("admin")).status_code == 201
