"""A lead's life after its first decision, as the flow's ``[lifecycle]`` says (``flows.Lifecycle``):

- ``on_update``: what an update of a lead's fields does: close it, unassign it (manager queue), route it
  again, or nothing. A rule acts when the update makes its condition hold (it did not hold before).
- ``closing_rule``: the ``close_when`` rule a lead meets when it is routed (it is then not routed).
- ``due_date``: an offer's deadline from a lead date field instead of the service's acceptance SLA.
- ``duplicate_key``: the values that make two leads the same lead (``[lifecycle.duplicates]``).

Conditions are the steps' own (``conditions.Condition``) and are evaluated by the same ``Flow.unmet``
(the flow's time zone, territories and maturity); nothing here reads a condition any other way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from leadwise.routing.conditions import Condition
from leadwise.routing.domain import Decision, Explanation, Lead, Outcome, Rep, Scores
from leadwise.routing.flows import CloseResult, CloseRule, Flow, format_duration

Action = Literal["none", "close", "unassign", "reroute"]


def holds(when: Condition, lead: Lead, scores: Scores, reps: Sequence[Rep], flow: Flow, now: datetime) -> bool:
    """Whether ``lead`` meets ``when`` at ``now``, read exactly as a flow step reads it."""
    return flow.unmet(when, lead, now, scores=scores, reps=reps) is None


@dataclass(frozen=True)
class Change:
    """What an update of a lead does: ``action``, the rule that made it (``why``, for the explanation and
    the ended offer's reason) and, for ``close``, the assignment's end state."""

    action: Action
    why: str = ""
    result: CloseResult | None = None


NO_CHANGE = Change("none")


def on_update(
    *,
    before: Lead,
    after: Lead,
    scores_before: Scores,
    scores_after: Scores,
    reps: Sequence[Rep],
    flow: Flow,
    now: datetime,
) -> Change:
    """The first rule, in the order close → unassign → re-route, that the update makes hold: it holds on
    ``after`` and did not on ``before``. Closing comes first because it is final; unassigning before
    re-routing because a lead a manager must look at is not offered to a rep meanwhile."""
    rules = flow.lifecycle

    def became_true(when: Condition) -> bool:
        return holds(when, after, scores_after, reps, flow, now) and not holds(
            when, before, scores_before, reps, flow, now
        )

    for index, rule in enumerate(rules.close_when):
        if became_true(rule.when):
            return Change("close", f"{rule.describe(index)} met", rule.result)
    moves: tuple[tuple[Action, list[Condition]], ...] = (("unassign", rules.unassign_when), ("reroute", rules.reroute_when))
    for action, whens in moves:
        for index, when in enumerate(whens):
            if became_true(when):
                label = f"{action}_when" + (f"[{index}]" if len(whens) > 1 else "")
                return Change(action, f"{label} ({when.describe()}) met")
    return NO_CHANGE


def closing_rule(
    lead: Lead, scores: Scores, reps: Sequence[Rep], flow: Flow, now: datetime
) -> tuple[int, CloseRule] | None:
    """The first ``close_when`` rule ``lead`` meets at ``now`` (with its index), or None."""
    for index, rule in enumerate(flow.lifecycle.close_when):
        if holds(rule.when, lead, scores, reps, flow, now):
            return index, rule
    return None


def closed_decision(lead: Lead, index: int, rule: CloseRule, now: datetime, scores: Scores) -> Decision:
    """The decision on a lead that meets a ``close_when`` rule when it is routed: not routed, closed."""
    return Decision(
        lead_id=lead.lead_id,
        outcome=Outcome.closed,
        closed_as=rule.result,
        decided_at=now,
        propensity=1.0,  # the flow's conditions decide
        explanation=Explanation(
            model_version=scores.model_version,
            lead_score=scores.lead_score,
            notes=[f"{rule.describe(index)} met: closed as {rule.result}, not routed"],
        ),
    )


def due_date(lead: Lead, flow: Flow, now: datetime) -> tuple[datetime | None, str | None]:
    """The deadline of an offer made ``now`` from the lead's ``due_from`` field (+ ``due_after``) and a note
    saying where it came from; (None, why) when the service's acceptance SLA applies instead: no
    ``due_from``, no such date on the lead, or a date already past (an offer must get some time)."""
    name = flow.lifecycle.due_from
    if name is None:
        return None, None
    value = getattr(lead, name)
    if value is None:
        return None, f"no {name} on the lead: the acceptance SLA applies"
    if not isinstance(value, datetime):  # a lead date field is a datetime (``flows.LEAD_DATE_FIELDS``)
        raise TypeError(f"lead field {name!r} is not a date")
    due = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)) + flow.lifecycle.due_after
    offset = f" + {format_duration(flow.lifecycle.due_after)}" if flow.lifecycle.due_after else ""
    if due <= now:
        return None, f"due date {due.isoformat()} ({name}{offset}) has passed: the acceptance SLA applies"
    return due, f"due {due.isoformat()} from the lead's {name}{offset}"


def with_due_date(decision: Decision, lead: Lead, flow: Flow) -> Decision:
    """``decision`` with its offer's due date from the lead (for an assignment; queues have no offer)."""
    if decision.outcome != Outcome.assigned or flow.lifecycle.due_from is None:
        return decision
    due, note = due_date(lead, flow, decision.decided_at)
    if note is not None:
        decision.explanation.notes.append(note)
    return decision.model_copy(update={"due_at": due})


def duplicate_key(lead: Lead, flow: Flow) -> dict[str, str] | None:
    """The values of the flow's duplicate key on ``lead``; None without a key or when a field is missing
    (a lead without an account is nobody's duplicate by account)."""
    rule = flow.lifecycle.duplicates
    if rule is None:
        return None
    values = {name: getattr(lead, name) for name in rule.key}
    if any(value is None or not str(value).strip() for value in values.values()):
        return None
    return {name: str(value) for name, value in values.items()}


def unassigned_decision(lead: Lead, why: str, now: datetime, scores: Scores) -> Decision:
    """The decision on a lead an update unassigned (``unassign_when``): the manager queue."""
    return Decision(
        lead_id=lead.lead_id,
        outcome=Outcome.manager_queue,
        decided_at=now,
        propensity=1.0,
        explanation=Explanation(
            model_version=scores.model_version,
            lead_score=scores.lead_score,
            notes=[f"{why}: unassigned, to the manager queue"],
        ),
    )


def duplicate_fingerprint(lead: Lead, flow: Flow) -> str | None:
    """What two leads with the same duplicate key share (the key's fields and values, hashed): what the
    store indexes, so the check is one lookup. None without a key or when a field is missing."""
    key = duplicate_key(lead, flow)
    if key is None:
        return None
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
