"""What the service knows about products and accounts, for the flow conditions a lead does not spell
out: a lead naming its product is routed with the product's series from the catalogue, a lead naming
its account with the account's sector and country (``office_location``) from the account table.

The tables are the served model's (the cleaned training data kept with it); rules-only, the CRM files
in ``LEADWISE_DATA_DIR`` (``products.csv``, ``accounts.csv``) when they are there. What the lead sends
itself always wins.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from cachetools import LRUCache

from leadwise.data.cleaning import CleaningReport
from leadwise.data.crm import read_accounts, read_products
from leadwise.data.errors import DataValidationError
from leadwise.data.training_data import CrmReference
from leadwise.errors import InvalidInput
from leadwise.routing import Lead
from leadwise.routing.conditions import MAX_FIELDS
from leadwise.services.models import ModelHolder
from leadwise.settings import Settings

log = logging.getLogger(__name__)


def _squash(name: str) -> str:
    return name.lower().replace(" ", "")


@dataclass(frozen=True)
class Catalogue:
    series: Mapping[str, str]  # product, squashed (lower case, no spaces) -> its series
    accounts: Mapping[str, Mapping[str, Any]]  # account -> {"sector": ..., "office_location": ...}

    @classmethod
    def of(cls, products: pd.DataFrame | None, accounts: pd.DataFrame | None) -> Catalogue:
        series = {} if products is None else {
            _squash(str(p)): str(s) for p, s in zip(products["product"], products["series"], strict=True) if pd.notna(s)
        }
        known: dict[str, dict[str, Any]] = {}
        if accounts is not None:
            for account, sector, country in zip(
                accounts["account"], accounts["sector"], accounts["office_location"], strict=True
            ):
                fields = {"sector": sector, "office_location": country}
                known[str(account)] = {k: str(v) for k, v in fields.items() if pd.notna(v)}
        return cls(series=series, accounts=known)

    def complete(self, lead: Lead) -> Lead:
        """``lead`` with the series of its product and the sector and country of its account filled in
        where it does not carry them itself."""
        fill: dict[str, Any] = {}
        if lead.series is None and lead.product is not None:
            series = self.series.get(_squash(lead.product))
            if series is not None:
                fill["series"] = series
        account = self.accounts.get(lead.account) if lead.account is not None else None
        if account is not None:
            fill |= {k: v for k, v in account.items() if getattr(lead, k) is None}
        return lead.model_copy(update=fill) if fill else lead


    def _derived(self, field: str, value: str | None) -> Mapping[str, Any]:
        if value is None:
            return {}
        if field == "product":
            series = self.series.get(_squash(value))
            return {} if series is None else {"series": series}
        return self.accounts.get(value, {}) if field == "account" else {}

    def update(self, lead: Lead, changes: Mapping[str, Any]) -> Lead:
        """``lead`` with ``changes`` (a field -> its new value; None removes it), completed again: a value
        the old product or account gave it (series; sector, country) follows the new one, unless the
        change itself sets it; a value the lead carried itself stays."""
        stale = {
            name: None
            for source in ("product", "account")
            if source in changes
            for name, value in self._derived(source, getattr(lead, source)).items()
            if name not in changes and getattr(lead, name) == value
        }
        if "fields" in changes:  # custom fields change key by key: the keys sent, None removing one
            changes = {**changes, "fields": merged_fields(lead.fields, changes["fields"])}
        return self.complete(Lead.model_validate({**lead.model_dump(), **stale, **changes}))


def merged_fields(current: Mapping[str, Any], changes: Mapping[str, Any] | None) -> dict[str, Any]:
    """A lead's custom fields after a change: each key sent takes its value, a None removes the key, and a
    None for the whole map removes them all. More than ``MAX_FIELDS`` after the change is refused."""
    if changes is None:
        return {}
    merged = {name: value for name, value in {**current, **changes}.items() if value is not None}
    if len(merged) > MAX_FIELDS:
        raise InvalidInput(f"fields: a lead keeps at most {MAX_FIELDS} custom fields; this change leaves {len(merged)}")
    return merged


EMPTY = Catalogue(series={}, accounts={})
_FROM_FILES: dict[Path, Catalogue] = {}
# By the id of the served model's reference (kept in the entry, so the id cannot be reused meanwhile).
_FROM_MODELS: LRUCache[int, tuple[CrmReference, Catalogue]] = LRUCache(maxsize=4)
_LOCK = threading.Lock()


def _from_files(data_dir: Path) -> Catalogue:
    with _LOCK:
        hit = _FROM_FILES.get(data_dir)
    if hit is not None:
        return hit
    products_csv, accounts_csv = data_dir / "products.csv", data_dir / "accounts.csv"
    report = CleaningReport()
    try:
        found = Catalogue.of(
            read_products(products_csv, report) if products_csv.is_file() else None,
            read_accounts(accounts_csv, report) if accounts_csv.is_file() else None,
        )
    except DataValidationError as exc:
        log.warning("no product catalogue or account table for routing: %s", exc)
        found = EMPTY
    with _LOCK:
        _FROM_FILES[data_dir] = found
    return found


def catalogue(*, models: ModelHolder, settings: Settings) -> Catalogue:
    """The served model's tables, else those in ``settings.data_dir``."""
    loaded = models.current
    reference = loaded.models.reference if loaded is not None else None
    if reference is None:
        return _from_files(settings.data_dir)
    with _LOCK:
        hit = _FROM_MODELS.get(id(reference))
    if hit is not None and hit[0] is reference:
        return hit[1]
    built = Catalogue.of(reference.products, reference.accounts)  # once per served model
    with _LOCK:
        _FROM_MODELS[id(reference)] = (reference, built)
    return built


def complete_leads(*, models: ModelHolder, settings: Settings, leads: Sequence[Lead]) -> list[Lead]:
    known = catalogue(models=models, settings=settings)
    return [known.complete(lead) for lead in leads]
