"""Webhook subscriptions (admins): subscribe a URL to assignment events, list, delete, read the delivery
log. Delivery itself happens off the request path (``leadwise.services.webhooks``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status

from leadwise.api.deps import AdminDep, DbDep
from leadwise.api.schemas import (
    DeliveriesPublic,
    DeliveryPublic,
    Problem,
    Responses,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhooksPublic,
)
from leadwise.services import webhooks as service

router = APIRouter(prefix="/v1/admin/webhooks", tags=["webhooks"])
SubscriptionId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ERRORS: Responses = {401: {"model": Problem}, 403: {"model": Problem}, 404: {"model": Problem}}


@router.post("", response_model=WebhookCreated, status_code=status.HTTP_201_CREATED, responses=ERRORS | {422: {"model": Problem}})
def create_webhook(body: WebhookCreate, db: DbDep, _: AdminDep) -> WebhookCreated:
    """Subscribe a URL to assignment events. Each event is POSTed as JSON with the headers
    ``X-Leadwise-Event``, ``X-Leadwise-Delivery`` (the delivery's id, the same on a retry) and
    ``X-Leadwise-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``. A non-2xx
    answer or no answer is retried with exponential back-off (``LEADWISE_WEBHOOK_*``)."""
    row = service.create_subscription(
        db=db, url=str(body.url), events_wanted=body.events, description=body.description, secret=body.secret
    )
    return WebhookCreated(**WebhookPublic.model_validate(row).model_dump(), secret=row.secret)


@router.get("", response_model=WebhooksPublic, responses=ERRORS)
def list_webhooks(db: DbDep, _: AdminDep) -> WebhooksPublic:
    """The active subscriptions (never their secrets)."""
    data = [WebhookPublic.model_validate(row) for row in service.list_subscriptions(db=db)]
    return WebhooksPublic(data=data, count=len(data))


@router.delete("/{subscription_id}", response_model=WebhookPublic, responses=ERRORS)
def delete_webhook(subscription_id: SubscriptionId, db: DbDep, _: AdminDep) -> WebhookPublic:
    """Stop a subscription: nothing more is sent, its pending deliveries are marked failed; its
    delivery log stays readable."""
    return WebhookPublic.model_validate(service.delete_subscription(db=db, subscription_id=subscription_id))


@router.get("/{subscription_id}/deliveries", response_model=DeliveriesPublic, responses=ERRORS)
def list_deliveries(
    subscription_id: SubscriptionId,
    db: DbDep,
    _: AdminDep,
    delivery_status: Annotated[
        Literal["pending", "delivered", "failed"] | None, Query(alias="status", description="only these")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> DeliveriesPublic:
    """The subscription's delivery log, newest first: every event, its attempts, the receiver's last
    answer and error, when it is tried next."""
    rows, total = service.deliveries(
        db=db, subscription_id=subscription_id, status=delivery_status, limit=limit, offset=offset
    )
    data = [DeliveryPublic.model_validate(row) for row in rows]
    return DeliveriesPublic(data=data, count=len(data), total=total, limit=limit, offset=offset)
