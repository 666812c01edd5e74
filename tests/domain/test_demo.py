import itertools
import random
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache

import pytest

from app.domain.demo import (
    SILENCE,
    USAGE_TYPES,
    Archetype,
    ClientPlan,
    DemoPlan,
    EventPlan,
    all_events,
    client_events,
    plan_demo,
)
from app.domain.events import validate_event
from app.domain.workspaces import DEFAULT_LIFECYCLE_STAGES, DEFAULT_TIERS
from app.errors import InvalidInput

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
DAYS = 120
TWO_WEEKS = timedelta(days=14)


@cache
def book() -> DemoPlan:
    return plan_demo(random.Random(7), 60, DAYS, NOW)


@cache
def events_of(external_id: str) -> list[EventPlan]:
    plan = book()
    return client_events(plan, next(c for c in plan.clients if c.external_id == external_id))


def clients_of(archetype: Archetype) -> list[ClientPlan]:
    found = [c for c in book().clients if c.archetype is archetype]
    assert found, f"the book has no {archetype} client"
    return found


def usage(events: list[EventPlan], since: datetime, until: datetime) -> int:
    return sum(1 for e in events if e.type in USAGE_TYPES and since <= e.occurred_at < until)


class TestPlanDemo:
    def test_the_same_seed_plans_the_same_book(self) -> None:
        first = plan_demo(random.Random(42), 10, 30, NOW)
        second = plan_demo(random.Random(42), 10, 30, NOW)
        assert first == second
        assert list(all_events(first)) == list(all_events(second))

    def test_another_seed_plans_another_book(self) -> None:
        first = plan_demo(random.Random(1), 10, 30, NOW)
        second = plan_demo(random.Random(2), 10, 30, NOW)
        assert list(all_events(first)) != list(all_events(second))

    def test_there_is_about_one_owner_per_25_clients(self) -> None:
        plan = plan_demo(random.Random(1), 100, 1, NOW)
        assert len(plan.owners) == 4
        assert {c.owner_external_id for c in plan.clients} == {o.external_id for o in plan.owners}
        assert len({o.email for o in plan.owners}) == 4

    def test_a_small_book_still_has_an_owner(self) -> None:
        assert len(plan_demo(random.Random(1), 3, 1, NOW).owners) == 1

    def test_clients_use_the_default_vocabulary_and_all_three_stories(self) -> None:
        clients = book().clients
        assert {c.tier for c in clients} == set(DEFAULT_TIERS)
        assert {c.lifecycle_stage for c in clients} <= set(DEFAULT_LIFECYCLE_STAGES)
        assert {c.archetype for c in clients} == set(Archetype)
        assert len({c.external_id for c in clients}) == len(clients)

    def test_no_client_is_acquired_in_the_future(self) -> None:
        assert all(c.acquired_at <= NOW for c in book().clients)

    @pytest.mark.parametrize(("clients", "days"), [(0, 10), (10, 0)])
    def test_an_empty_book_is_refused(self, clients: int, days: int) -> None:
        with pytest.raises(InvalidInput):
            plan_demo(random.Random(1), clients, days, NOW)

    def test_a_naive_now_is_refused(self) -> None:
        with pytest.raises(InvalidInput):
            plan_demo(random.Random(1), 1, 1, NOW.replace(tzinfo=None))


class TestContracts:
    def test_amounts_are_positive_decimal_strings_per_month(self) -> None:
        for client in book().clients:
            for contract in client.contracts:
                assert re.fullmatch(r"\d+\.\d{2}", contract.amount)
                assert Decimal(contract.amount) > 0
                assert contract.ends_on is None or contract.ends_on >= contract.starts_on

    def test_enterprise_pays_more_than_smb(self) -> None:
        def mean(tier: str) -> Decimal:
            amounts = [Decimal(c.contracts[0].amount) for c in book().clients if c.tier == tier]
            return sum(amounts, Decimal(0)) / len(amounts)

        assert mean("enterprise") > mean("mid") > mean("smb")

    def test_some_live_contracts_renew_within_90_days(self) -> None:
        horizon = (NOW + timedelta(days=90)).date()
        renewing = [
            c
            for c in book().clients
            if c.churn is None
            and any(
                k.ends_on is not None and NOW.date() <= k.ends_on <= horizon for k in c.contracts
            )
        ]
        assert renewing

    def test_live_contracts_cover_today(self) -> None:
        for client in book().clients:
            if client.churn is None:
                main = client.contracts[0]
                assert main.starts_on <= NOW.date()
                assert main.ends_on is None or main.ends_on >= NOW.date()


class TestEvents:
    def test_every_planned_event_is_valid(self) -> None:
        for event in all_events(book()):
            problems = validate_event(
                event.type, event.value, event.properties, event.occurred_at, NOW
            )
            assert problems == [], (event, problems)

    def test_external_ids_are_unique_per_source(self) -> None:
        keys = Counter((e.source, e.external_id) for e in all_events(book()))
        assert keys.most_common(1)[0][1] == 1

    def test_events_fall_between_acquisition_or_window_start_and_now_or_churn(self) -> None:
        for client in book().clients:
            start = max(NOW - timedelta(days=DAYS), client.acquired_at)
            end = client.churn.churned_at if client.churn else NOW
            for event in events_of(client.external_id):
                assert start <= event.occurred_at <= end

    def test_events_come_oldest_first(self) -> None:
        for client in book().clients:
            times = [e.occurred_at for e in events_of(client.external_id)]
            assert times == sorted(times)

    def test_every_client_shows_usage(self) -> None:
        for client in book().clients:
            assert usage(events_of(client.external_id), client.acquired_at, NOW) > 0


class TestHealthyClients:
    def test_usage_holds_steady(self) -> None:
        last = prev = 0
        for client in clients_of(Archetype.HEALTHY):
            events = events_of(client.external_id)
            last += usage(events, NOW - TWO_WEEKS, NOW)
            prev += usage(events, NOW - 2 * TWO_WEEKS, NOW - TWO_WEEKS)
        assert last >= 0.8 * prev

    def test_an_owner_touches_them_every_few_weeks(self) -> None:
        for client in clients_of(Archetype.HEALTHY):
            times = [max(NOW - timedelta(days=DAYS), client.acquired_at)]
            times += [
                e.occurred_at for e in events_of(client.external_id) if e.type == "touchpoint"
            ]
            times.append(NOW)
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert max(gaps) <= timedelta(days=30), client.external_id

    def test_nps_answers_are_good(self) -> None:
        for client in clients_of(Archetype.HEALTHY):
            scores = [e.value for e in events_of(client.external_id) if e.type == "nps"]
            assert all(s is not None and s >= 7 for s in scores)


class TestDecliningClients:
    def test_last_two_weeks_of_usage_are_at_least_30_percent_below_the_two_before(self) -> None:
        for client in clients_of(Archetype.DECLINING):
            events = events_of(client.external_id)
            last = usage(events, NOW - TWO_WEEKS, NOW)
            prev = usage(events, NOW - 2 * TWO_WEEKS, NOW - TWO_WEEKS)
            assert prev > 0
            assert last <= 0.7 * prev, (client.external_id, last, prev)

    def test_no_touchpoint_for_45_days(self) -> None:
        for client in clients_of(Archetype.DECLINING):
            touched = [
                e.occurred_at for e in events_of(client.external_id) if e.type == "touchpoint"
            ]
            assert all(at <= NOW - SILENCE for at in touched)

    def test_tickets_spike_in_the_last_three_weeks(self) -> None:
        for client in clients_of(Archetype.DECLINING):
            recent = [
                e
                for e in events_of(client.external_id)
                if e.type == "ticket_opened" and e.occurred_at >= NOW - timedelta(days=21)
            ]
            assert len(recent) >= 4

    def test_an_escalated_ticket_is_still_open(self) -> None:
        for client in clients_of(Archetype.DECLINING):
            events = events_of(client.external_id)
            escalated = {e.properties["ticket_id"] for e in events if e.type == "ticket_escalated"}
            resolved = {e.properties["ticket_id"] for e in events if e.type == "ticket_resolved"}
            assert escalated - resolved

    def test_the_latest_nps_answer_is_a_detractor(self) -> None:
        for client in clients_of(Archetype.DECLINING):
            scores = [e.value for e in events_of(client.external_id) if e.type == "nps"]
            assert scores[-1] is not None
            assert scores[-1] <= 6


class TestChurningClients:
    def test_they_churn_with_a_reason_between_acquisition_and_now(self) -> None:
        for client in clients_of(Archetype.CHURNING):
            assert client.churn is not None
            assert client.churn.reason
            assert client.acquired_at <= client.churn.churned_at <= NOW

    def test_usage_dies_out_a_week_before_churn(self) -> None:
        for client in clients_of(Archetype.CHURNING):
            assert client.churn is not None
            churned_at = client.churn.churned_at
            events = events_of(client.external_id)
            assert usage(events, churned_at - timedelta(days=7), NOW) == 0

    def test_the_contract_ends_on_the_churn_day(self) -> None:
        for client in clients_of(Archetype.CHURNING):
            assert client.churn is not None
            assert client.contracts[0].ends_on == client.churn.churned_at.date()

    def test_only_churning_clients_churn(self) -> None:
        assert all(c.churn is None for c in book().clients if c.archetype != Archetype.CHURNING)
