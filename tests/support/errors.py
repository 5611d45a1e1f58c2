"""The one JSON error shape every service and the gateway answer with, checked once."""

from __future__ import annotations

from typing import Any

from werkzeug.test import TestResponse


def error_of(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    """The ``error`` object of ``response``, after checking the shape every error shares."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == ["error"]
    error = body["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["details"], dict)
    return error
