"""The OpenAPI 3.1 description of the public intake API, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from crm.intake.callback import MAX_MESSAGE, UTM_FIELDS
from crm.intake.vocabulary import RELATIONSHIPS, SUBSTANCES

_TEXT = {"type": "string"}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


def callback_request_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {
        "name": {**_TEXT, "maxLength": 120, "description": "The caller's name."},
        "phone": {**_TEXT, "maxLength": 40, "description": "UK or international number."},
        "email": {**_TEXT, "format": "email", "maxLength": 254},
        "best_time_to_call": {**_TEXT, "maxLength": 120},
        "for_whom": {"enum": ["self", "someone_else"], "default": "self"},
        "relationship": {
            "enum": [r for r in RELATIONSHIPS if r != "self"],
            "description": "Required when for_whom is someone_else.",
        },
        "client_name": {**_TEXT, "maxLength": 120, "description": "The person who needs help."},
        "substances": {"type": "array", "items": {"enum": list(SUBSTANCES)}, "maxItems": 10},
        "message": {**_TEXT, "maxLength": MAX_MESSAGE},
        "consent_to_contact": {"const": True},
        "consent_to_health_details": {
            "type": "boolean",
            "description": "Required true when substances or message are sent.",
        },
        "consent_wording_version": {**_TEXT, "maxLength": 40},
        "disclosure_wording_version": {
            **_TEXT,
            "maxLength": 40,
            "description": "The version of the commission disclosure shown.",
        },
        "page_url": {**_TEXT, "maxLength": 500},
        **{name: {**_TEXT, "maxLength": 100} for name in UTM_FIELDS},
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "name",
            "phone",
            "consent_to_contact",
            "consent_wording_version",
            "disclosure_wording_version",
        ],
        "properties": properties,
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Admissions CRM intake API",
            "version": "1.0.0",
            "description": "Callback requests from the service's websites.",
        },
        "paths": {
            "/api/v1/callback-requests": {
                "post": {
                    "summary": "Ask for a callback",
                    "security": [{"bearerAuth": []}],
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "maxLength": 255},
                            "description": (
                                "Retries with this key and body get one answer and one lead, "
                                "even when sent at the same instant."
                            ),
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/CallbackRequest"}
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": (
                                "Received: the request is committed to the service's callback "
                                "inbox, durably (it survives a restart of any process), with "
                                "the consent and disclosure wording versions it names. The lead "
                                "itself (owner, queue, reminders, the out-of-hours page) is "
                                "built from it by the engine, normally within a second; the "
                                "reference returned is the lead's. `requested_again: true` "
                                "when it joins the person's open lead (or a request of theirs "
                                "still in the inbox). A retry with the same Idempotency-Key "
                                "and body gets this same answer, with Idempotent-Replayed: true."
                            ),
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/CallbackReceipt"}
                                }
                            },
                        },
                        "400": _problem("Malformed JSON or not an object."),
                        "401": _problem("Missing, unknown or revoked API key."),
                        "409": _problem("Idempotency-Key reused with a different body."),
                        "411": _problem("No Content-Length (a chunked body) was sent."),
                        "413": _problem("Body larger than the limit."),
                        "415": _problem("Content-Type is not application/json."),
                        "422": _problem("Field errors; see errors[]."),
                        "429": _problem("Rate limit reached; retry later."),
                    },
                }
            }
        },
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "CallbackRequest": callback_request_schema(),
                "CallbackReceipt": {
                    "type": "object",
                    "required": ["reference", "status"],
                    "properties": {
                        "reference": {**_TEXT, "pattern": "^L-[2-9A-Z]{6}$"},
                        "status": {"enum": ["received"]},
                        "requested_again": {"type": "boolean"},
                    },
                },
                "Problem": {
                    "type": "object",
                    "required": ["title", "status"],
                    "properties": {
                        "type": _TEXT,
                        "title": _TEXT,
                        "status": {"type": "integer"},
                        "detail": _TEXT,
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"field": _TEXT, "message": _TEXT},
                            },
                        },
                    },
                },
            },
        },
    }
