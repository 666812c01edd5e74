"""`tenure seed-demo`: a synthetic book of business written through the same services the API
uses, so a demo workspace holds exactly what real traffic would have made."""

import random
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import demo
from app.domain.api_keys import Principal
from app.domain.contracts import ContractStatus
from app.services import clients as client_service
from app.services import contracts as contract_service
from app.services import events as event_service
from app.services import owners as owner_service
from app.services.events import EventInput, ItemStatus

BATCH = 1000
DEFAULT_SEED = 20261122
DEMO_LIMITS = client_service.ClientLimits(max_attributes_bytes=16_384)


@dataclass(frozen=True)
class DemoSummary:
    owners: int
    clients: int
    contracts: int
    events: int
    churned: int


async def seed_demo(
    session: AsyncSession,
    principal: Principal,
    *,
    clients: int,
    days: int,
    now: datetime,
    seed: int = DEFAULT_SEED,
    limits: client_service.ClientLimits = DEMO_LIMITS,
) -> DemoSummary:
    """Owners, clients with contracts, `days` of events in batches of 1,000, then churns.

    A seeding run is its own boundary: it commits after each step, as the API would after
    each request, so a large book never sits in one transaction. The same seed plans the same
    book."""
    plan = demo.plan_demo(random.Random(seed), clients, days, now)
    owner_ids: dict[str, uuid.UUID] = {}
    for planned_owner in plan.owners:
        owner = await owner_service.create_owner(
            session,
            principal,
            {
                "name": planned_owner.name,
                "email": planned_owner.email,
                "external_id": planned_owner.external_id,
            },
        )
        owner_ids[planned_owner.external_id] = owner.id
    await session.commit()

    client_ids: dict[str, uuid.UUID] = {}
    contracts = 0
    for planned in plan.clients:
        view = await client_service.create_client(
            session,
            principal,
            {
                "name": planned.name,
                "external_id": planned.external_id,
                "domain": planned.domain,
                "owner_id": owner_ids[planned.owner_external_id],
                "tier": planned.tier,
                "lifecycle_stage": planned.lifecycle_stage,
                "acquired_at": planned.acquired_at,
                "attributes": planned.attributes,
            },
            limits,
            now,
        )
        client_ids[planned.external_id] = view.client.id
        for contract in planned.contracts:
            await contract_service.create_contract(
                session,
                principal,
                {
                    "client_id": view.client.id,
                    "external_id": contract.external_id,
                    "starts_on": contract.starts_on,
                    "ends_on": contract.ends_on,
                    "amount": Decimal(contract.amount),
                    "currency": contract.currency,
                    "status": ContractStatus.ACTIVE,
                },
                now,
            )
            contracts += 1
        await session.commit()

    stored = 0
    batch: list[EventInput | event_service.ItemProblem] = []
    for planned in plan.clients:
        client_id = client_ids[planned.external_id]
        owner_id = str(owner_ids[planned.owner_external_id])
        for event in demo.client_events(plan, planned):
            properties = event.properties
            if event.type == "touchpoint":
                properties = {**properties, "owner_id": owner_id}
            batch.append(
                EventInput(
                    client_id=client_id,
                    client_external_id=None,
                    type=event.type,
                    occurred_at=event.occurred_at,
                    value=event.value,
                    properties=properties,
                    contact_id=None,
                    contact_email=None,
                    source=event.source,
                    external_id=event.external_id,
                )
            )
            if len(batch) == BATCH:
                stored += await _ingest(session, principal, batch, now)
                batch = []
    if batch:
        stored += await _ingest(session, principal, batch, now)

    churned = 0
    for planned in plan.clients:
        if planned.churn is not None:
            await client_service.churn_client(
                session,
                principal,
                client_ids[planned.external_id],
                planned.churn.reason,
                planned.churn.churned_at,
                None,
                now,
            )
            churned += 1
    await session.commit()
    return DemoSummary(
        owners=len(owner_ids),
        clients=len(client_ids),
        contracts=contracts,
        events=stored,
        churned=churned,
    )


async def _ingest(
    session: AsyncSession,
    principal: Principal,
    batch: list[EventInput | event_service.ItemProblem],
    now: datetime,
) -> int:
    """Counts the events stored; a rejected demo event is a bug in the plan, so it stops us."""
    results = await event_service.ingest(session, principal, batch, upsert_clients=False, now=now)
    await session.commit()
    rejected = [r for r in results if r.status is ItemStatus.REJECTED]
    if rejected:
        problem = rejected[0].problem
        detail = problem.detail if problem else "no detail"
        raise RuntimeError(f"{len(rejected)} demo events were rejected; first: {detail}")
    return sum(1 for r in results if r.status is ItemStatus.CREATED)
