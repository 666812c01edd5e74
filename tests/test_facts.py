"""Facts split their items so that no one job's run grows too long."""

import uuid

from app.facts import MAX_CLIENTS_PER_FACT, ClientsChanged, SignalsOpened


def test_a_fact_holds_at_most_its_share_of_items_in_order() -> None:
    ids = [uuid.uuid4() for _ in range(2 * MAX_CLIENTS_PER_FACT + 1)]
    facts = ClientsChanged.split(ids)
    assert [len(f.client_ids) for f in facts] == [MAX_CLIENTS_PER_FACT, MAX_CLIENTS_PER_FACT, 1]
    assert [i for f in facts for i in f.client_ids] == ids


def test_no_items_make_no_fact() -> None:
    assert SignalsOpened.split([]) == []
