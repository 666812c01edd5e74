import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.domain.ingestion import (
    AcceptedEvent,
    ClientFacts,
    TicketMoment,
    client_facts,
    dedupe_within_batch,
    is_open,
    ticket_moments,
)

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
ACME = uuid.UUID("00000000-0000-4000-8000-00000000000a")
GLOBEX = uuid.UUID("00000000-0000-4000-8000-00000000000b")


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def event(
    index: int = 0,
    type: str = "login",
    *,
    hours: float = 0,
    client_id: uuid.UUID = ACME,
    source: str = "api",
    external_id: str | None = None,
    properties: dict[str, Any] | None = None,
) -> AcceptedEvent:
    return AcceptedEvent(
        index=index,
        id=uuid.uuid4(),
        client_id=client_id,
        type=type,
        occurred_at=at(hours),
        value=None,
        properties=properties or {},
        contact_id=None,
        source=source,
        external_id=external_id,
    )


def ticket(index: int, type: str, ticket_id: str, hours: float, **kw: Any) -> AcceptedEvent:
    return event(index, type, hours=hours, properties={"ticket_id": ticket_id}, **kw)


def indexes(events: list[AcceptedEvent]) -> list[int]:
    return [e.index for e in events]


class TestDedupeWithinBatch:
    def test_events_without_an_external_id_are_never_repeats(self) -> None:
        batch = dedupe_within_batch([event(0), event(1), event(2)])
        assert indexes(batch.unique) == [0, 1, 2]
        assert batch.repeats == {}

    def test_a_repeated_key_points_at_the_first_item(self) -> None:
        batch = dedupe_within_batch([event(0, external_id="a"), event(1, external_id="a")])
        assert indexes(batch.unique) == [0]
        assert batch.repeats == {1: 0}

    def test_every_repeat_points_at_the_first_not_the_previous(self) -> None:
        items = [event(i, external_id="a") for i in range(3)]
        assert dedupe_within_batch(items).repeats == {1: 0, 2: 0}

    def test_the_same_external_id_from_another_source_is_not_a_repeat(self) -> None:
        items = [event(0, source="zendesk", external_id="1"), event(1, external_id="1")]
        batch = dedupe_within_batch(items)
        assert indexes(batch.unique) == [0, 1]
        assert batch.repeats == {}

    def test_the_key_ignores_client_and_type(self) -> None:
        items = [
            event(0, "login", external_id="x"),
            event(1, "order", client_id=GLOBEX, external_id="x"),
        ]
        assert dedupe_within_batch(items).repeats == {1: 0}

    def test_keeps_the_order_of_unique_items(self) -> None:
        items = [
            event(3, external_id="b"),
            event(5),
            event(7, external_id="a"),
            event(8, external_id="b"),
            event(9, external_id="a"),
        ]
        batch = dedupe_within_batch(items)
        assert indexes(batch.unique) == [3, 5, 7]
        assert batch.repeats == {8: 3, 9: 7}

    def test_an_empty_batch_has_nothing(self) -> None:
        batch = dedupe_within_batch([])
        assert batch.unique == []
        assert batch.repeats == {}


class TestClientFacts:
    def test_last_activity_is_the_latest_event(self) -> None:
        items = [event(0, hours=5), event(1, "order", hours=9), event(2, hours=1)]
        (facts,) = client_facts(items, {ACME: None})
        assert facts.last_activity_at == at(9)

    def test_email_sent_is_not_activity(self) -> None:
        items = [event(0, hours=1), event(1, "email_sent", hours=9)]
        (facts,) = client_facts(items, {ACME: None})
        assert facts.last_activity_at == at(1)

    @pytest.mark.parametrize("type_name", ["email_opened", "email_replied", "touchpoint"])
    def test_reactions_to_outreach_are_activity(self, type_name: str) -> None:
        (facts,) = client_facts([event(0, type_name, hours=3)], {ACME: None})
        assert facts.last_activity_at == at(3)

    def test_custom_events_are_activity(self) -> None:
        (facts,) = client_facts([event(0, "custom.webinar", hours=4)], {ACME: None})
        assert facts.last_activity_at == at(4)

    def test_a_batch_of_only_email_sent_says_nothing(self) -> None:
        assert client_facts([event(0, "email_sent", hours=2)], {ACME: None}) == []

    def test_last_touchpoint_is_the_latest_touchpoint(self) -> None:
        items = [event(0, "touchpoint", hours=8), event(1, "touchpoint", hours=2), event(2)]
        (facts,) = client_facts(items, {ACME: None})
        assert facts.last_touchpoint_at == at(8)

    def test_without_touchpoints_the_touchpoint_is_unknown(self) -> None:
        (facts,) = client_facts([event(0, hours=1)], {ACME: None})
        assert facts.last_touchpoint_at is None

    def test_first_escalation_is_the_earliest(self) -> None:
        items = [
            ticket(0, "ticket_escalated", "t1", 6),
            ticket(1, "ticket_escalated", "t2", 2),
            ticket(2, "ticket_escalated", "t3", 4),
        ]
        (facts,) = client_facts(items, {ACME: at(0)})
        assert facts.first_escalation_at == at(2)

    def test_an_escalation_before_acquisition_is_ignored(self) -> None:
        items = [ticket(0, "ticket_escalated", "t1", -3), ticket(1, "ticket_escalated", "t2", 5)]
        (facts,) = client_facts(items, {ACME: at(0)})
        assert facts.first_escalation_at == at(5)

    def test_an_escalation_at_the_moment_of_acquisition_counts(self) -> None:
        (facts,) = client_facts([ticket(0, "ticket_escalated", "t1", 0)], {ACME: at(0)})
        assert facts.first_escalation_at == at(0)

    def test_without_an_acquisition_date_every_escalation_counts(self) -> None:
        (facts,) = client_facts([ticket(0, "ticket_escalated", "t1", -100)], {ACME: None})
        assert facts.first_escalation_at == at(-100)

    def test_only_escalations_before_acquisition_leave_it_unknown(self) -> None:
        (facts,) = client_facts([ticket(0, "ticket_escalated", "t1", -3)], {ACME: at(0)})
        assert facts.first_escalation_at is None
        assert facts.last_activity_at == at(-3)

    def test_each_client_gets_its_own_facts(self) -> None:
        items = [
            event(0, hours=1, client_id=GLOBEX),
            event(1, "touchpoint", hours=2, client_id=ACME),
            event(2, hours=3, client_id=GLOBEX),
        ]
        facts = client_facts(items, {ACME: None, GLOBEX: None})
        assert facts == [
            ClientFacts(ACME, at(2), at(2), None, first_activity_at=at(2)),
            ClientFacts(GLOBEX, at(3), None, None, first_activity_at=at(1)),
        ]

    def test_first_activity_is_the_earliest_event_but_our_own_outreach(self) -> None:
        items = [event(0, hours=5), event(1, "email_sent", hours=-9), event(2, "nps", hours=-2)]
        (facts,) = client_facts(items, {ACME: None})
        assert facts.first_activity_at == at(-2)

    def test_the_batch_order_does_not_matter(self) -> None:
        items = [
            event(0, hours=1),
            event(1, "touchpoint", hours=7),
            ticket(2, "ticket_escalated", "t", 4),
            event(3, "touchpoint", hours=3),
            ticket(4, "ticket_escalated", "u", 2),
        ]
        acquired: dict[uuid.UUID, datetime | None] = {ACME: at(0)}
        assert client_facts(items, acquired) == client_facts(items[::-1], acquired)

    def test_splitting_a_batch_gives_facts_that_combine_to_the_whole(self) -> None:
        items = [
            event(0, hours=9),
            event(1, "touchpoint", hours=3),
            ticket(2, "ticket_escalated", "t", 8),
            event(3, "touchpoint", hours=6),
            ticket(4, "ticket_escalated", "u", 1),
        ]
        acquired: dict[uuid.UUID, datetime | None] = {ACME: at(0)}
        (whole,) = client_facts(items, acquired)
        (first,) = client_facts(items[:2], acquired)
        (second,) = client_facts(items[2:], acquired)
        assert whole.last_activity_at == max(
            t for t in (first.last_activity_at, second.last_activity_at) if t
        )
        assert whole.last_touchpoint_at == max(
            t for t in (first.last_touchpoint_at, second.last_touchpoint_at) if t
        )
        assert whole.first_escalation_at == min(
            t for t in (first.first_escalation_at, second.first_escalation_at) if t
        )


class TestTicketMoments:
    def test_an_opening_records_when(self) -> None:
        moments = ticket_moments([ticket(0, "ticket_opened", "t1", 1)])
        assert moments == [TicketMoment(ACME, "t1", at(1), None)]

    def test_a_resolution_without_an_opening_is_recorded(self) -> None:
        moments = ticket_moments([ticket(0, "ticket_resolved", "t1", 2)])
        assert moments == [TicketMoment(ACME, "t1", None, at(2))]

    def test_keeps_the_latest_opening_and_resolution(self) -> None:
        items = [
            ticket(0, "ticket_opened", "t1", 5),
            ticket(1, "ticket_resolved", "t1", 3),
            ticket(2, "ticket_opened", "t1", 1),
            ticket(3, "ticket_resolved", "t1", 7),
        ]
        assert ticket_moments(items) == [TicketMoment(ACME, "t1", at(5), at(7))]

    def test_an_escalation_neither_opens_nor_resolves(self) -> None:
        assert ticket_moments([ticket(0, "ticket_escalated", "t1", 1)]) == []

    def test_events_without_a_ticket_id_are_ignored(self) -> None:
        assert ticket_moments([event(0, "ticket_opened", hours=1)]) == []

    def test_a_ticket_id_that_is_not_text_is_ignored(self) -> None:
        item = event(0, "ticket_opened", hours=1, properties={"ticket_id": 7})
        assert ticket_moments([item]) == []

    def test_other_types_carrying_a_ticket_id_are_ignored(self) -> None:
        assert ticket_moments([ticket(0, "custom.ticket_note", "t1", 1)]) == []

    def test_the_same_ticket_id_at_two_clients_is_two_tickets(self) -> None:
        items = [
            ticket(0, "ticket_opened", "t1", 1, client_id=ACME),
            ticket(1, "ticket_resolved", "t1", 2, client_id=GLOBEX),
        ]
        assert sorted(ticket_moments(items), key=lambda m: m.client_id) == [
            TicketMoment(ACME, "t1", at(1), None),
            TicketMoment(GLOBEX, "t1", None, at(2)),
        ]

    def test_tickets_are_kept_apart(self) -> None:
        items = [ticket(0, "ticket_opened", "t1", 1), ticket(1, "ticket_opened", "t2", 2)]
        assert ticket_moments(items) == [
            TicketMoment(ACME, "t1", at(1), None),
            TicketMoment(ACME, "t2", at(2), None),
        ]


class TestIsOpen:
    def test_a_ticket_never_opened_is_not_open(self) -> None:
        assert not is_open(None, None)

    def test_an_opened_ticket_is_open(self) -> None:
        assert is_open(at(1), None)

    def test_a_resolution_after_the_opening_closes_it(self) -> None:
        assert not is_open(at(1), at(2))

    def test_a_reopening_after_the_resolution_opens_it_again(self) -> None:
        assert is_open(at(3), at(2))

    def test_a_resolution_seen_without_an_opening_is_not_open(self) -> None:
        assert not is_open(None, at(2))

    def test_a_resolution_at_the_same_moment_closes_it(self) -> None:
        assert not is_open(at(1), at(1))
