"""Zoom's error answers: ``{"code", "message"[, "errors"]}`` with an HTTP status of their own."""

from __future__ import annotations

from typing import Any

NOT_SUPPORTED = "This operation is not supported."
VALIDATION_FAILED = "Validation Failed."
BAD_JSON = "Request Body should be a valid JSON object."
HOLIDAY_MISSING = "Holiday does not exist."
BAD_HOLIDAY_TIME = "Invalid holiday from/to time."
FORWARDING_FEATURE_OFF = (
    "Request failed because the Call Forwarding to External Numbers feature is not enabled."
)
RING_AND_WAIT = "The user business hours ring mode and max wait time need to be set together."
#: A write racing another write to the same extension (Zoom's wording is not documented).
CONFLICT = "Another update to this extension is in progress. Try again later."
TOKEN_EXPIRED = "Access token is expired."
TOKEN_INVALID = "Invalid access token."
#: Zoom's code for a token without the scope an API needs (its HTTP status varies).
SCOPE_MISSING = 4711

#: Bodies of the injected 5xx faults (Zoom's own 5xx bodies are not documented).
SERVER_ERRORS: dict[int, str] = {
    500: "Internal server error. Please try again later.",
    502: "Bad gateway. Please try again later.",
    503: "Service temporarily unavailable. Please try again later.",
}


class ZoomError(Exception):
    """An error answer. ``errors`` lists per-field problems like Zoom's validation answers."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors:
            out["errors"] = self.errors
        return out


def invalid(field: str, message: str) -> ZoomError:
    """400 / 300 ``Validation Failed.`` naming the offending field."""
    return ZoomError(400, 300, VALIDATION_FAILED, [{"field": field, "message": message}])


def not_supported() -> ZoomError:
    return ZoomError(400, 400, NOT_SUPPORTED)


def extension_missing(extension_id: str, status: int = 404) -> ZoomError:
    """404/404 as documented; 400 carries the validation code 300, as it has been seen."""
    return ZoomError(
        status, 404 if status == 404 else 300, f"Extension does not exist: {extension_id}"
    )


def scope_missing(needed: tuple[str, ...], status: int) -> ZoomError:
    """A token without the scope the operation needs: code 4711 naming the scopes that would do."""
    scopes = ", ".join(needed)
    return ZoomError(
        status, SCOPE_MISSING, f"Invalid access token, does not contain scopes:[{scopes}]."
    )


def holiday_missing() -> ZoomError:
    return ZoomError(404, 404, HOLIDAY_MISSING)


def forwarding_missing(forwarding_id: str) -> ZoomError:
    return ZoomError(404, 404, f"Call forwarding does not exist: {forwarding_id}.")


def too_many(field: str, limit: int) -> ZoomError:
    return ZoomError(400, 405, f"The number of items for {field} must not exceed {limit}.")
