"""Errors of the service layer. Each names the problem; ``leadwise.api.errors`` maps them to statuses."""

from __future__ import annotations


class ServiceError(Exception):
    """Base class; ``code`` is the short machine-readable name put in the response body."""

    code = "error"


class NotFound(ServiceError):
    code = "not_found"


class Conflict(ServiceError):
    code = "conflict"


class InvalidInput(ServiceError):
    code = "invalid_input"


class ModelNotReady(ServiceError):
    code = "model_not_ready"


class Unavailable(ServiceError):
    """The database stayed busy or unreachable: the client may retry."""

    code = "unavailable"
