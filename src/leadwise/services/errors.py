"""Errors of the service layer. Each names the problem; ``leadwise.api.errors`` maps them to statuses."""

from __future__ import annotations


class ServiceError(Exception):
    """Base class; ``code`` is the short machine-readable name put in the response body."""

    code = "error"


class NotFound(ServiceError):
    code = "not_found"


class Conflict(ServiceError):
    code = "conflict"


class NotAllowed(ServiceError):
    """The caller's role may do this, but not on this object (e.g. another rep's assignment)."""

    code = "forbidden"


class InvalidInput(ServiceError):
    code = "invalid_input"


class ModelNotReady(ServiceError):
    code = "model_not_ready"


class ModelFailed(ServiceError):
    """The served model raised on a lead (e.g. a bundle pickled by older code): scoring is unavailable,
    routing goes on rules-only."""

    code = "model_failed"


class Unavailable(ServiceError):
    """The database stayed busy or unreachable: the client may retry."""

    code = "unavailable"
