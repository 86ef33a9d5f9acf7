"""Pure routing: reps, leads, strategies, rule flows, fairness and the assignment optimiser.

Nothing here opens a database, a socket or an MLflow run; ``engine.route_lead`` is the entry point.
"""

from leadwise.routing.clock import Clock, ManualClock, SystemClock
from leadwise.routing.domain import (
    NO_SCORES,
    AlreadyClaimed,
    Capacity,
    CapacityExhausted,
    Decision,
    Explanation,
    InvalidFlow,
    Lead,
    LeadNotFound,
    NoEligibleRep,
    Outcome,
    OutOfOffice,
    Rep,
    RepLoad,
    RoutingError,
    Scores,
    Seniority,
    Touch,
    WorkingHours,
)
from leadwise.routing.engine import manual_assign, route_lead
from leadwise.routing.fairness import FairnessBounds
from leadwise.routing.flows import Flow, load_flow, parse_flow
from leadwise.routing.optimiser import CapacityPricer, assign_batch
from leadwise.routing.state import InMemoryState, RoutingState
from leadwise.routing.strategies import STRATEGIES

__all__ = [
    "NO_SCORES",
    "STRATEGIES",
    "AlreadyClaimed",
    "Capacity",
    "CapacityExhausted",
    "CapacityPricer",
    "Clock",
    "Decision",
    "Explanation",
    "FairnessBounds",
    "Flow",
    "InMemoryState",
    "InvalidFlow",
    "Lead",
    "LeadNotFound",
    "ManualClock",
    "NoEligibleRep",
    "OutOfOffice",
    "Outcome",
    "Rep",
    "RepLoad",
    "RoutingError",
    "RoutingState",
    "Scores",
    "Seniority",
    "Touch",
    "SystemClock",
    "WorkingHours",
    "assign_batch",
    "load_flow",
    "manual_assign",
    "parse_flow",
    "route_lead",
]
