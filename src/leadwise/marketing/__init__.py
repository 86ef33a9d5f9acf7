"""Marketing side of the pipeline: touchpoints, customer journeys and multi-touch attribution.

Pure code: functions here read files they are given and compute; they never open a database,
a socket or an MLflow run.
"""

from leadwise.marketing.attribution import (
    ALL_MODELS,
    HEURISTIC_MODELS,
    AttributionConfig,
    AttributionResult,
    attribute,
)
from leadwise.marketing.journeys import Journeys, build_journeys
from leadwise.marketing.touchpoints import (
    TOUCH_TYPES,
    TouchpointsError,
    load_outcomes,
    read_touchpoints,
)

__all__ = [
    "ALL_MODELS",
    "HEURISTIC_MODELS",
    "TOUCH_TYPES",
    "AttributionConfig",
    "AttributionResult",
    "Journeys",
    "TouchpointsError",
    "attribute",
    "build_journeys",
    "load_outcomes",
    "read_touchpoints",
]
