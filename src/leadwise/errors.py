"""The one error family of leadwise. Every layer raises one of these kinds (or a subclass naming the
case); ``leadwise.api.errors`` maps each kind to an HTTP status in one table, the CLI prints the message.

``code`` is the short machine-readable name put in a response body; the message is one sentence a person
can act on.
"""

from __future__ import annotations


class LeadwiseError(Exception):
    code = "error"


class NotFound(LeadwiseError):
    """Missing, or not the caller's to see: both answer the same, so nothing leaks an object's existence."""

    code = "not_found"


class Conflict(LeadwiseError):
    """The request is valid but the stored state does not allow it (now)."""

    code = "conflict"


class InvalidInput(LeadwiseError):
    code = "invalid_input"


class Unauthorized(LeadwiseError):
    """No API key, or one that is not valid."""

    code = "unauthorized"


class Forbidden(LeadwiseError):
    """The caller's role may never do this (whatever the object): nothing about an object is revealed."""

    code = "forbidden"


class Unavailable(LeadwiseError):
    """Something the request needs is not there right now (the database, the model): the client may retry."""

    code = "unavailable"


class ModelNotReady(Unavailable):
    code = "model_not_ready"


class ModelFailed(Unavailable):
    """The served model raised on a lead (e.g. a bundle pickled by older code): scoring is unavailable,
    routing goes on rules-only."""

    code = "model_failed"


class DatabaseBusy(Unavailable):
    """The database stayed busy past the retries."""

    code = "unavailable"
