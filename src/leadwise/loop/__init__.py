"""Learning from the service's own decisions, pure code: off-policy evaluation of routing policies from
the logged propensities (``ope``) and the live monitoring of the served model (``monitoring``)."""
