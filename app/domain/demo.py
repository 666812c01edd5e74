"""A synthetic book of business for demos: owners, clients, contracts and a period of events
per client, each client telling one of three stories (healthy, declining, churning).

Everything comes from the `random.Random` passed in, so a seed always plans the same book.
A client's events are derived on demand from its own seed, so a large book never sits in
memory whole."""

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from app.errors import InvalidInput

T = TypeVar("T")
CLIENTS_PER_OWNER = 25
USAGE_TYPES = frozenset({"login", "feature_used"})
DECLINE_WINDOW = timedelta(days=14)
DECLINE_DROP = 0.35
"""Declining clients' last 14 days of usage are at least this far below the 14 before."""
SILENCE = timedelta(days=45)
"""Declining clients have had no touchpoint for at least this long."""
CURRENCIES = (("USD", 0.85), ("EUR", 0.1), ("GBP", 0.05))
FEATURES = ("dashboards", "reports", "exports", "alerts", "integrations", "api", "workflows")
CHANNELS = (("email", 0.4), ("call", 0.3), ("meeting", 0.2), ("note", 0.1))
CHURN_REASONS = (
    "budget cut",
    "moved to a competitor",
    "acquired; consolidating tools",
    "never reached adoption",
    "champion left the company",
)
FIRST_NAMES = ("Dana", "Fox", "Walter", "Monica", "John", "Jeffrey", "Alvin", "Tara", "Lena")
LAST_NAMES = ("Scully", "Mulder", "Skinner", "Reyes", "Doggett", "Spender", "Kersh", "Park")
NAME_WORDS = ("Blue", "North", "Silver", "Bright", "Iron", "Cedar", "Summit", "Harbor", "Pine")
NAME_NOUNS = ("Logistics", "Analytics", "Foods", "Health", "Labs", "Media", "Energy", "Retail")


class Archetype(StrEnum):
    HEALTHY = "healthy"
    DECLINING = "declining"
    CHURNING = "churning"


ARCHETYPES = ((Archetype.HEALTHY, 0.6), (Archetype.DECLINING, 0.25), (Archetype.CHURNING, 0.15))


@dataclass(frozen=True)
class TierProfile:
    name: str
    share: float
    logins_per_weekday: float
    seats: tuple[int, int]
    monthly_prices: tuple[int, ...]
    tickets_per_day: float
    open_ended_share: float
    """Month-to-month contracts without an end date."""


TIERS = (
    TierProfile("enterprise", 0.15, 7.0, (50, 400), (4000, 6500, 9000, 12500), 0.12, 0.0),
    TierProfile("mid", 0.35, 3.5, (10, 60), (900, 1500, 2200, 3400), 0.06, 0.1),
    TierProfile("smb", 0.5, 1.2, (2, 12), (49, 99, 149, 299, 499), 0.03, 0.4),
)


@dataclass(frozen=True)
class OwnerPlan:
    external_id: str
    name: str
    email: str


@dataclass(frozen=True)
class ContractPlan:
    external_id: str
    starts_on: date
    ends_on: date | None
    amount: str
    """Per month, a decimal string such as "2500.00"."""
    currency: str


@dataclass(frozen=True)
class ChurnPlan:
    churned_at: datetime
    reason: str


@dataclass(frozen=True)
class ClientPlan:
    external_id: str
    name: str
    domain: str
    tier: str
    lifecycle_stage: str
    archetype: Archetype
    owner_external_id: str
    acquired_at: datetime
    attributes: dict[str, Any]
    contracts: tuple[ContractPlan, ...]
    churn: ChurnPlan | None
    seed: int
    """Seeds this client's events, so they can be derived one client at a time."""


@dataclass(frozen=True)
class EventPlan:
    client_external_id: str
    type: str
    occurred_at: datetime
    value: float | None
    properties: dict[str, Any]
    source: str
    external_id: str


@dataclass(frozen=True)
class DemoPlan:
    now: datetime
    days: int
    owners: tuple[OwnerPlan, ...]
    clients: tuple[ClientPlan, ...]


def plan_demo(rng: random.Random, clients: int, days: int, now: datetime) -> DemoPlan:
    if clients < 1 or days < 1:
        raise InvalidInput("a demo needs at least one client and one day")
    if now.tzinfo is None:
        raise InvalidInput("now must carry a timezone")
    owners = tuple(_owner(i) for i in range(max(1, round(clients / CLIENTS_PER_OWNER))))
    planned = tuple(_client(rng, i, owners, days, now) for i in range(clients))
    return DemoPlan(now=now, days=days, owners=owners, clients=planned)


def _owner(i: int) -> OwnerPlan:
    first = FIRST_NAMES[i % len(FIRST_NAMES)]
    last = LAST_NAMES[(i // len(FIRST_NAMES) + i) % len(LAST_NAMES)]
    email = f"{first.lower()}.{last.lower()}.{i + 1}@demo.example"
    return OwnerPlan(external_id=f"demo-owner-{i + 1:03d}", name=f"{first} {last}", email=email)


def _client(
    rng: random.Random, i: int, owners: tuple[OwnerPlan, ...], days: int, now: datetime
) -> ClientPlan:
    tier = _pick(rng, [(t, t.share) for t in TIERS])
    archetype = _pick(rng, list(ARCHETYPES))
    window = timedelta(days=days)
    if archetype is Archetype.HEALTHY and rng.random() < 0.15:  # acquired during the window
        acquired_at = now - timedelta(days=rng.uniform(min(7, days / 2), days))
    else:
        acquired_at = now - window - timedelta(days=rng.uniform(60, 900))
    acquired_at = acquired_at.replace(microsecond=0)
    churn = None
    if archetype is Archetype.CHURNING:
        latest = max(1, min(150, days * 2 // 3))
        age = rng.randint(max(1, min(latest, days // 8)), latest)
        churned_at = (now - timedelta(days=age, hours=rng.uniform(0, 8))).replace(microsecond=0)
        churn = ChurnPlan(churned_at=churned_at, reason=rng.choice(CHURN_REASONS))
    external_id = f"demo-client-{i + 1:05d}"
    name = f"{rng.choice(NAME_WORDS)} {rng.choice(NAME_WORDS)} {rng.choice(NAME_NOUNS)}"
    contracts = _contracts(rng, tier, external_id, acquired_at, churn, now)
    return ClientPlan(
        external_id=external_id,
        name=name,
        domain=f"{name.lower().replace(' ', '-')}-{i + 1}.example",
        tier=tier.name,
        lifecycle_stage=_stage(rng, archetype, acquired_at, contracts, now),
        archetype=archetype,
        owner_external_id=owners[i % len(owners)].external_id,
        acquired_at=acquired_at,
        attributes={"seats": rng.randint(*tier.seats), "demo": True},
        contracts=contracts,
        churn=churn,
        seed=rng.getrandbits(64),
    )


def _contracts(
    rng: random.Random,
    tier: TierProfile,
    client_external_id: str,
    acquired_at: datetime,
    churn: ChurnPlan | None,
    now: datetime,
) -> tuple[ContractPlan, ...]:
    """The live term: annual from the last anniversary, month-to-month, or ended at churn."""
    currency = _pick(rng, list(CURRENCIES))
    price = rng.choice(tier.monthly_prices)
    amount = str(Decimal(price * 100 + rng.choice((0, 0, 50))).scaleb(-2))
    last_day = (churn.churned_at if churn else now).date()
    acquired_on = acquired_at.date()
    if rng.random() < tier.open_ended_share:
        starts_on, ends_on = acquired_on, None
    else:
        years = last_day.year - acquired_on.year
        starts_on = _anniversary(acquired_on, years)
        if starts_on > last_day:
            starts_on = _anniversary(acquired_on, years - 1)
        ends_on = _anniversary(acquired_on, starts_on.year - acquired_on.year + 1)
        ends_on -= timedelta(days=1)
    if churn is not None:
        ends_on = max(starts_on, last_day)
    main = ContractPlan(f"{client_external_id}-c1", starts_on, ends_on, amount, currency)
    if tier.name != "enterprise" or churn is not None or rng.random() >= 0.3:
        return (main,)
    addon_start = max(starts_on, (now - timedelta(days=rng.randint(30, 200))).date())
    addon_amount = str(Decimal(price * 20).scaleb(-2))
    addon = ContractPlan(f"{client_external_id}-c2", addon_start, ends_on, addon_amount, currency)
    return (main, addon)


def _stage(
    rng: random.Random,
    archetype: Archetype,
    acquired_at: datetime,
    contracts: tuple[ContractPlan, ...],
    now: datetime,
) -> str:
    age = now - acquired_at
    if archetype is Archetype.CHURNING:  # its stage when it left
        return "adoption"
    if age < timedelta(days=45):
        return "onboarding"
    if age < timedelta(days=120):
        return "first_value"
    ends_on = contracts[0].ends_on
    if ends_on is not None and ends_on - now.date() <= timedelta(days=90):
        return "renewal"
    if archetype is Archetype.HEALTHY and rng.random() < 0.2:
        return "expansion"
    return "adoption"


def all_events(plan: DemoPlan) -> Iterator[EventPlan]:
    for client in plan.clients:
        yield from client_events(plan, client)


def client_events(plan: DemoPlan, client: ClientPlan) -> list[EventPlan]:
    """The client's events over the plan's days, oldest first, with stable external ids."""
    story = _Story(random.Random(client.seed), plan, client)
    story.usage()
    story.tickets()
    story.touchpoints()
    story.surveys()
    story.outreach()
    story.revenue()
    if client.archetype is Archetype.DECLINING:
        story.enforce_decline()
    drafts = sorted(story.drafts, key=lambda d: (d.occurred_at, d.type))
    return [
        EventPlan(
            client_external_id=client.external_id,
            type=d.type,
            occurred_at=d.occurred_at,
            value=d.value,
            properties=d.properties or {},
            source=d.source,
            external_id=f"{client.external_id}-{n:06d}",
        )
        for n, d in enumerate(drafts, start=1)
    ]


@dataclass(frozen=True)
class _Draft:
    type: str
    occurred_at: datetime
    source: str
    value: float | None = None
    properties: dict[str, Any] | None = None


class _Story:
    """One client's period, drawn in passes; every draft lands in [start, end)."""

    def __init__(self, rng: random.Random, plan: DemoPlan, client: ClientPlan) -> None:
        self.rng = rng
        self.client = client
        self.now = plan.now
        self.start = max(plan.now - timedelta(days=plan.days), client.acquired_at)
        self.end = client.churn.churned_at if client.churn else plan.now
        self.tier = next(t for t in TIERS if t.name == client.tier)
        self.drafts: list[_Draft] = []
        self.decline_from = timedelta(days=rng.uniform(30, 42))
        self.dead = timedelta(days=rng.uniform(7, 14))  # before churn, nobody logs in
        self.fade = timedelta(days=rng.uniform(21, 56))
        self.silence = SILENCE + timedelta(days=rng.uniform(0, 20))
        self.tickets_opened = 0

    def add(self, draft: _Draft) -> None:
        if self.start <= draft.occurred_at < self.end and draft.occurred_at <= self.now:
            self.drafts.append(draft)

    def factor(self, at: datetime) -> float:
        """How active the client is at a moment, 1.0 being its usual self."""
        if self.client.archetype is Archetype.DECLINING:
            age = self.now - at
            if age >= self.decline_from:
                return 1.0
            return 0.25 + 0.75 * (age / self.decline_from)
        if self.client.archetype is Archetype.CHURNING:
            before_churn = self.end - at
            if before_churn < self.dead:
                return 0.0
            return min(1.0, (before_churn - self.dead) / self.fade)
        return 1.0

    def usage(self) -> None:
        seats = int(self.client.attributes["seats"])
        for day in _days(self.start, self.end):
            weekend = day.weekday() >= 5
            rate = self.tier.logins_per_weekday * (0.25 if weekend else 1.0)
            noon = datetime.combine(day, time(12), UTC)
            for _ in range(_poisson(self.rng, rate * self.factor(noon))):
                at = self.moment(day)
                user = f"u{self.rng.randrange(seats):03d}"
                self.add(_Draft("login", at, "app", properties={"user": user}))
                for _ in range(_poisson(self.rng, 0.8)):
                    used_at = at + timedelta(seconds=self.rng.randint(30, 1800))
                    feature = self.rng.choice(FEATURES)
                    self.add(
                        _Draft("feature_used", used_at, "app", properties={"feature": feature})
                    )

    def tickets(self) -> None:
        for day in _days(self.start, self.end):
            noon = datetime.combine(day, time(12), UTC)
            busy = 2.0 if 0 < self.factor(noon) < 1 else 1.0  # trouble comes with the fade
            if self.rng.random() < self.tier.tickets_per_day * busy:
                self.ticket(self.moment(day), escalate=0.05, resolve=0.95)
        if self.client.archetype is Archetype.DECLINING:  # the spike; the worst is still open
            for k in range(self.rng.randint(4, 7)):
                age = timedelta(days=self.rng.uniform(2 if k == 0 else 0.5, 21))
                at = (self.now - age).replace(microsecond=0)
                if k == 0:
                    self.ticket(at, escalate=1, resolve=0)
                else:
                    self.ticket(at, escalate=0.5 if k == 1 else 0, resolve=0.25)

    def ticket(self, opened_at: datetime, *, escalate: float, resolve: float) -> None:
        self.tickets_opened += 1
        props = {"ticket_id": f"{self.client.external_id}-T{self.tickets_opened:04d}"}
        self.add(_Draft("ticket_opened", opened_at, "zendesk", properties=props))
        if self.rng.random() < escalate:
            escalated_at = opened_at + timedelta(hours=self.rng.uniform(1, 24))
            self.add(_Draft("ticket_escalated", escalated_at, "zendesk", properties=props))
        if self.rng.random() < resolve:
            resolved_at = opened_at + timedelta(hours=self.rng.uniform(1, 72))
            self.add(_Draft("ticket_resolved", resolved_at, "zendesk", properties=props))

    def touchpoints(self) -> None:
        at = self.start + timedelta(days=self.rng.uniform(0, 14))
        while at < self.end:
            logged_at = self.moment(at.date())
            quiet = (
                self.client.archetype is Archetype.DECLINING and self.now - logged_at < self.silence
            ) or (self.client.archetype is Archetype.CHURNING and self.factor(logged_at) < 1)
            if not quiet:
                self.touchpoint(logged_at, _pick(self.rng, list(CHANNELS)))
            at += timedelta(days=self.rng.uniform(10, 24))
        if self.client.churn is not None:  # the save call
            save_at = self.end - timedelta(days=self.rng.uniform(2, 5))
            self.touchpoint(save_at.replace(microsecond=0), "call")

    def touchpoint(self, at: datetime, channel: str) -> None:
        self.add(_Draft("touchpoint", at, "crm", properties={"channel": channel}))

    def surveys(self) -> None:
        at = self.start + timedelta(days=self.rng.uniform(0, 90))
        declining = self.client.archetype is Archetype.DECLINING
        while at < self.end:
            if not (declining and self.now - at < timedelta(days=21)):
                self.nps(at)
            at += timedelta(days=self.rng.uniform(80, 100))
        if declining:  # the latest answer
            self.nps(self.now - timedelta(days=self.rng.uniform(1, 10)), detractor=True)

    def nps(self, at: datetime, *, detractor: bool = False) -> None:
        mood = self.factor(at)
        if detractor or mood < 0.5:
            score = self.rng.randint(0, 6)
        elif mood < 1:
            score = self.rng.randint(5, 8)
        else:
            score = _pick(self.rng, [(10, 0.35), (9, 0.35), (8, 0.2), (7, 0.1)])
        self.add(_Draft("nps", at.replace(microsecond=0), "delighted", value=float(score)))
        if score >= 9 and self.rng.random() < 0.1:
            self.add(_Draft("referral", at.replace(microsecond=0) + timedelta(days=3), "crm"))

    def outreach(self) -> None:
        at = self.start + timedelta(days=self.rng.uniform(0, 30))
        sent = 0
        while at < self.end:
            sent += 1
            props = {"message_id": f"{self.client.external_id}-M{sent:03d}"}
            sent_at = self.moment(at.date())
            self.add(_Draft("email_sent", sent_at, "mailer", properties=props))
            if self.rng.random() < 0.6 * self.factor(at):
                opened_at = sent_at + timedelta(hours=self.rng.uniform(0.2, 30))
                self.add(_Draft("email_opened", opened_at, "mailer", properties=props))
                if self.rng.random() < 0.3:
                    clicked_at = opened_at + timedelta(seconds=self.rng.randint(5, 600))
                    self.add(_Draft("email_clicked", clicked_at, "mailer", properties=props))
            at += timedelta(days=self.rng.uniform(25, 35))

    def revenue(self) -> None:
        main = self.client.contracts[0]
        monthly = float(Decimal(main.amount))
        acquired_on = self.client.acquired_at.date()
        if main.ends_on is not None and main.starts_on > acquired_on and self.client.churn is None:
            renewed_at = datetime.combine(main.starts_on, time(10), UTC)
            self.add(_Draft("renewal", renewed_at, "billing", value=monthly * 12))
        if self.client.churn is not None:
            downgraded_at = self.end - timedelta(days=self.rng.uniform(10, 20))
            self.add(_Draft("downgrade", downgraded_at, "billing", value=monthly / 2))

    def enforce_decline(self) -> None:
        """Poisson noise can hide a decline on a small client; trim usage until it shows."""
        last_from = self.now - DECLINE_WINDOW
        prev_from = last_from - DECLINE_WINDOW
        if self.start > prev_from:
            return
        usage = [d for d in self.drafts if d.type in USAGE_TYPES]
        last = [d for d in usage if d.occurred_at >= last_from]
        prev = sum(1 for d in usage if prev_from <= d.occurred_at < last_from)
        allowed = math.floor(prev * (1 - DECLINE_DROP))
        if len(last) > allowed:
            dropped = {id(d) for d in self.rng.sample(last, len(last) - allowed)}
            self.drafts = [d for d in self.drafts if id(d) not in dropped]

    def moment(self, day: date) -> datetime:
        """Mostly business hours, UTC."""
        hour = min(23.99, max(0.0, self.rng.gauss(14, 3)))
        return datetime.combine(day, time(), UTC) + timedelta(seconds=int(hour * 3600))


def _days(start: datetime, end: datetime) -> Iterator[date]:
    day = start.date()
    while day <= end.date():
        yield day
        day += timedelta(days=1)


def _anniversary(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for the small means of daily counts."""
    if mean <= 0:
        return 0
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _pick(rng: random.Random, weighted: list[tuple[T, float]]) -> T:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]
