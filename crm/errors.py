"""DomainError: the one exception services raise for a refused use case."""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    """What went wrong, so each boundary can pick its status code."""

    INVALID = "invalid"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    FORBIDDEN = "forbidden"


class DomainError(Exception):
    """A use case was refused. ``message`` is safe to show to staff."""

    def __init__(
        self,
        message: str,
        kind: ErrorKind = ErrorKind.INVALID,
        field_errors: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.field_errors = field_errors or {}

    @property
    def http_status(self) -> int:
        return {
            ErrorKind.INVALID: 422,
            ErrorKind.NOT_FOUND: 404,
            ErrorKind.CONFLICT: 409,
            ErrorKind.FORBIDDEN: 403,
        }[self.kind]
