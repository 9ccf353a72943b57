"""The OpenAPI 3.1 description at /api/v1/openapi.json stays true to the intake endpoint."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from crm.intake.callback import ALLOWED_FIELDS
from tests.web.intake_helpers import (
    API_URL,
    body,
    error_fields,
    issue_key,
    lead_by_reference,
    post_api,
    schema_problems,
    settings_changed,
)


@pytest.fixture
def document(client) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")  # anonymous: the description is public
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return json.loads(response.get_data(as_text=True))


@pytest.fixture
def secret(db_session) -> str:
    return issue_key()


def _operation(document: dict[str, Any]) -> dict[str, Any]:
    return document["paths"][API_URL]["post"]


def _request_schema(document: dict[str, Any]) -> dict[str, Any]:
    return document["components"]["schemas"]["CallbackRequest"]


def example_value(name: str, schema: dict[str, Any]) -> Any:
    """A value for one property taken from what its schema says (examples, const, enum...)."""
    for keyword in ("examples",):
        if keyword in schema:
            return schema[keyword][0]
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("type") == "boolean":
        return True
    if schema.get("type") == "array":
        return [example_value(name, schema["items"])]
    if schema.get("format") == "email":
        return "person@example.com"
    if name == "phone":  # "UK or international number"
        return "+44 7700 900123"
    return f"{name} text"[: schema.get("maxLength", 100)]


def test_the_description_is_public_openapi_3_1_with_bearer_auth(document):
    assert document["openapi"] == "3.1.0"
    operation = _operation(document)
    assert operation["security"] == [{"bearerAuth": []}]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    [header] = [p for p in operation["parameters"] if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key"
    content = operation["requestBody"]["content"]["application/json"]["schema"]
    assert content == {"$ref": "#/components/schemas/CallbackRequest"}


def test_the_request_schema_lists_exactly_the_fields_the_validator_accepts(document):
    schema = _request_schema(document)
    assert set(schema["properties"]) == set(ALLOWED_FIELDS)
    assert schema["additionalProperties"] is False


def test_required_fields_are_those_the_validator_requires(document, client, secret):
    required = set(_request_schema(document)["required"])

    empty = post_api(client, {}, secret)

    assert empty.status_code == 422
    assert set(error_fields(empty.get_json())) == required
    only_required = {name: body()[name] for name in required}
    assert post_api(client, only_required, secret).status_code == 201


def test_a_body_built_from_the_schema_is_accepted_and_the_receipt_matches(document, client, secret):
    schema = _request_schema(document)
    payload = {name: example_value(name, prop) for name, prop in schema["properties"].items()}
    assert schema_problems(payload, schema, document) == []

    response = post_api(client, payload, secret)

    assert response.status_code == 201, response.get_data(as_text=True)
    receipt_schema = _operation(document)["responses"]["201"]["content"]["application/json"]
    assert schema_problems(response.get_json(), receipt_schema["schema"], document) == []
    lead = lead_by_reference(response.get_json()["reference"])
    assert lead.utm == {name: f"{name} text" for name in ALLOWED_FIELDS if name.startswith("utm_")}


def test_documented_text_limits_are_the_validator_s_limits(document, client, secret):
    properties = _request_schema(document)["properties"]
    limited = [
        name
        for name, prop in properties.items()
        if prop.get("type") == "string" and "maxLength" in prop and name not in ("phone", "email")
    ]
    assert "name" in limited and "message" in limited

    def filled(extra: int) -> dict[str, Any]:
        texts = {name: "x" * (properties[name]["maxLength"] + extra) for name in limited}
        return body(
            for_whom="someone_else", relationship="friend", consent_to_health_details=True, **texts
        )

    assert post_api(client, filled(0), secret).status_code == 201
    too_long = post_api(client, filled(1), secret)
    assert too_long.status_code == 422
    assert set(error_fields(too_long.get_json())) == set(limited)


def _chunked(client, secret):
    return client.post(
        API_URL,
        input_stream=io.BytesIO(json.dumps(body()).encode()),
        headers={
            "Transfer-Encoding": "chunked",
            "Authorization": f"Bearer {secret}",
            "Content-Type": "application/json",
        },
    )


TRIGGERS = {
    201: lambda c, s: post_api(c, body(), s, idempotency_key="doc-1"),
    400: lambda c, s: post_api(c, b"{not json", s),
    401: lambda c, s: post_api(c, body(), None),
    409: lambda c, s: post_api(c, body(name="Changed Name"), s, idempotency_key="doc-1"),
    411: _chunked,
    413: lambda c, s: post_api(c, json.dumps(body(message="x" * 20_000)), s),
    415: lambda c, s: post_api(c, json.dumps(body()), s, content_type="text/plain"),
    422: lambda c, s: post_api(c, body(phone="12345"), s),
}


def test_every_status_the_endpoint_answers_is_documented_with_its_body(
    app, document, client, secret
):
    responses = _operation(document)["responses"]
    seen = {}
    for status, trigger in TRIGGERS.items():
        seen[status] = trigger(client, secret)
    with settings_changed(app, intake_per_ip_per_minute=1):
        post_api(client, body(phone="07700 900777"), secret, ip="10.9.9.9")
        seen[429] = post_api(client, body(phone="07700 900778"), secret, ip="10.9.9.9")

    for status, response in seen.items():
        assert response.status_code == status, response.get_data(as_text=True)
        assert str(status) in responses, f"{status} is answered but not documented"
        content = responses[str(status)]["content"]
        assert list(content) == [response.mimetype], status
        problems = schema_problems(
            response.get_json(), content[response.mimetype]["schema"], document
        )
        assert problems == [], (status, problems)
    assert set(responses) == {str(s) for s in seen}, "documented statuses nobody can get"
