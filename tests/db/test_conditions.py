"""The condition language on a real database: the SQL over the portfolio selects exactly the
clients for which Python's `evaluate` over loaded views holds (random conditions by random
portfolios), in one statement, keyset paged; the views load in a constant number of statements."""

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db.repositories.client_views import ClientViewRepository
from app.db.repositories.conditions import ConditionQuery
from app.domain.conditions import (
    MAX_DEPTH,
    Condition,
    FieldName,
    condition_document,
    evaluate,
    leaves,
    parse_condition,
)
from tests.conditions_support import (
    NOW,
    ClientData,
    ContractData,
    Portfolio,
    SnapshotData,
    conditions,
    depth,
    insert_portfolio,
    portfolios,
)


@contextmanager
def statements(app: FastAPI) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    engine = app.state.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


async def matching_in_python(
    app: FastAPI, portfolio: Portfolio, condition: Condition
) -> list[uuid.UUID]:
    async with app.state.sessionmaker() as session:
        views = await ClientViewRepository(session).load(
            portfolio.workspace_id, portfolio.client_ids, NOW
        )
    assert set(views) == set(portfolio.client_ids)
    return sorted(c for c, view in views.items() if evaluate(condition, view).matched)


async def matching_in_sql(
    app: FastAPI, portfolio: Portfolio, condition: Condition | None, **kw: Any
) -> list[uuid.UUID]:
    async with app.state.sessionmaker() as session:
        return await ConditionQuery(session).matching_client_ids(
            portfolio.workspace_id, condition, NOW, **kw
        )


EXAMPLES = int(os.environ.get("TENURE_TEST_CONDITION_EXAMPLES", "30"))
"""Portfolios per run; a deeper search: TENURE_TEST_CONDITION_EXAMPLES=300 (about 5 minutes)."""


class TestPythonAndSqlAgree:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.data(), clients=portfolios)
    async def test_the_sql_set_is_the_set_python_evaluates_true(
        self, app: FastAPI, data: st.DataObject, clients: list[ClientData]
    ) -> None:
        """Each condition, and each of its leaves alone (a leaf's mistake can hide under
        `and`/`or` in a whole tree), against the same portfolio."""
        async with app.state.sessionmaker() as session:
            portfolio = await insert_portfolio(session, clients)
            ws, ids = portfolio.workspace_id, portfolio.client_ids
            views = await ClientViewRepository(session).load(ws, ids, NOW)
            assert set(views) == set(ids)
            query = ConditionQuery(session)
            trees = conditions(portfolio.owner_ids, clients).filter(lambda d: depth(d) <= MAX_DEPTH)
            for _ in range(CONDITIONS_PER_PORTFOLIO):
                doc = data.draw(trees, label="condition")
                condition = parse_condition(doc)
                assert parse_condition(condition_document(condition)) == condition
                for part in {condition, *leaves(condition)}:
                    expected = sorted(c for c, v in views.items() if evaluate(part, v).matched)
                    got = await query.matching_client_ids(ws, part, NOW)
                    assert got == expected, condition_document(part)
                # The page key and the id list reach into every subquery alike.
                expected = sorted(c for c, v in views.items() if evaluate(condition, v).matched)
                among = data.draw(st.lists(st.sampled_from(ids), unique=True), label="among")
                got = await query.matching_client_ids(ws, condition, NOW, among=among)
                assert got == [c for c in expected if c in among]
                after = data.draw(st.sampled_from(sorted(ids)), label="after")
                got = await query.matching_client_ids(ws, condition, NOW, after=after, limit=2)
                assert got == [c for c in expected if c > after][:2]


CONDITIONS_PER_PORTFOLIO = 12


@pytest.fixture
async def portfolio(app: FastAPI) -> AsyncIterator[Portfolio]:
    """Six clients: tiers, a touchpoint each, a contract renewing for the mid-tier ones."""
    items = [
        ClientData(
            name=f"c{i}",
            tier="mid" if i % 2 else "smb",
            stage="adoption",
            status="active",
            owner=None,
            attributes={"seats": i},
            snapshots=[
                SnapshotData(10, 0, 40.0 + i, "at_risk", {}),
                SnapshotData(1, 0, 50.0 + i, "healthy", {"fit": 70.0}),
            ],
            signals=[("gone_quiet", "high", False)] if i < 3 else [],
            contracts=[ContractData("active", -300, 300 + 10 * i, 1_000_000, "USD")],
            touchpoint=(10 * i, 0),
            tasks=["open"] if i == 0 else [],
        )
        for i in range(6)
    ]
    async with app.state.sessionmaker() as session:
        yield await insert_portfolio(session, items)


RENEWAL_PLAYBOOK = {
    "all": [
        {"field": "days_to_renewal", "op": "lte", "value": 90},
        {"field": "days_since_touchpoint", "op": "gte", "value": 30},
        {"not": {"field": "signals.open", "op": "includes", "value": "gone_quiet"}},
        {"field": "health.score_change", "op": "gt", "value": 5, "days": 7},
        {"field": "mrr", "op": "gte", "value": "100", "currency": "USD"},
        {"field": "tasks.open_count", "op": "eq", "value": 0},
        {"field": "attributes.seats", "op": "gte", "value": 1},
        {"field": "health.groups.fit", "op": "exists"},
    ]
}


class TestOneStatement:
    async def test_a_condition_reading_every_kind_of_field_is_one_select(
        self, app: FastAPI, portfolio: Portfolio
    ) -> None:
        condition = parse_condition(RENEWAL_PLAYBOOK)
        with statements(app) as seen:
            matched = await matching_in_sql(app, portfolio, condition)
        assert len(seen) == 1
        assert seen[0].lstrip().upper().startswith("SELECT")
        # renewals in 0..90 days: the contracts end 0, 10, … 50 days after today: all;
        # a touchpoint 30+ days ago: clients 3, 4, 5; none of them has gone quiet.
        assert matched == sorted(portfolio.client_ids[3:])
        assert matched == await matching_in_python(app, portfolio, condition)

    async def test_views_load_in_the_same_number_of_statements_for_one_client_or_many(
        self, app: FastAPI, portfolio: Portfolio
    ) -> None:
        async def count(ids: list[uuid.UUID]) -> int:
            with statements(app) as seen:
                async with app.state.sessionmaker() as session:
                    views = await ClientViewRepository(session).load(
                        portfolio.workspace_id, ids, NOW
                    )
            assert set(views) == set(ids)
            return len(seen)

        one = await count(portfolio.client_ids[:1])
        assert one == 5
        assert await count(portfolio.client_ids) == one

    async def test_a_condition_on_the_clients_rows_alone_loads_in_one_statement(
        self, app: FastAPI, portfolio: Portfolio
    ) -> None:
        reads = {FieldName.TIER, FieldName.BAND, FieldName.DAYS_SINCE_TOUCHPOINT}
        with statements(app) as seen:
            async with app.state.sessionmaker() as session:
                views = await ClientViewRepository(session).load(
                    portfolio.workspace_id, portfolio.client_ids, NOW, reads=reads
                )
        assert set(views) == set(portfolio.client_ids)
        assert len(seen) == 1


class TestPaging:
    async def test_keyset_pages_walk_the_matching_clients_in_id_order(
        self, app: FastAPI, portfolio: Portfolio
    ) -> None:
        condition = parse_condition({"field": "tier", "op": "in", "value": ["mid", "smb"]})
        every = await matching_in_sql(app, portfolio, condition)
        assert every == sorted(portfolio.client_ids)
        pages: list[uuid.UUID] = []
        after: uuid.UUID | None = None
        while page := await matching_in_sql(app, portfolio, condition, after=after, limit=4):
            pages += page
            after = page[-1]
        assert pages == every

    async def test_among_restricts_to_the_given_clients_of_this_workspace(
        self, app: FastAPI, portfolio: Portfolio
    ) -> None:
        mid = parse_condition({"field": "tier", "op": "eq", "value": "mid"})
        among = [*portfolio.client_ids[:3], uuid.uuid4()]
        assert await matching_in_sql(app, portfolio, mid, among=among) == [portfolio.client_ids[1]]
        assert await matching_in_sql(app, portfolio, mid, among=[]) == []
        assert await matching_in_sql(app, portfolio, None, among=among) == sorted(
            portfolio.client_ids[:3]
        )

    async def test_another_workspace_sees_none_of_these_clients(
        self, app: FastAPI, portfolio: Portfolio
    ) -> None:
        other = Portfolio(uuid.uuid4(), portfolio.client_ids)
        assert await matching_in_sql(app, other, None) == []
        async with app.state.sessionmaker() as session:
            views = await ClientViewRepository(session).load(
                other.workspace_id, other.client_ids, NOW
            )
        assert views == {}


class TestLoadedViews:
    async def test_a_view_carries_what_the_language_reads(
        self, app: FastAPI, portfolio: Portfolio
    ) -> None:
        first = portfolio.client_ids[0]
        async with app.state.sessionmaker() as session:
            view = (await ClientViewRepository(session).load(portfolio.workspace_id, [first], NOW))[
                first
            ]
        assert (view.tier, view.score, view.band, dict(view.groups)) == (
            "smb",
            50.0,
            "healthy",
            {"fit": 70.0},
        )
        history = sorted(view.score_history, key=lambda p: p.computed_at)
        assert [p.score for p in history] == [40.0, 50.0]
        assert view.mrr == {"USD": Decimal("100.0000")}
        assert view.next_renewal_on == NOW.date()
        assert view.last_touchpoint_at == NOW - timedelta(days=0)
        assert view.open_tasks == 1
        assert [(s.kind, s.severity) for s in view.open_signals] == [("gone_quiet", "high")]

    async def test_a_view_loaded_for_the_fields_read_reads_them_as_a_whole_view_does(
        self, app: FastAPI, portfolio: Portfolio
    ) -> None:
        """Each leaf reading a part of its own (history, signals, contracts, tasks), on a view
        that loaded only what the leaf reads: the same values and truth as on a whole view."""
        ws, ids = portfolio.workspace_id, portfolio.client_ids
        count = parse_condition({"field": "signals.open_count", "op": "gte", "value": 1})
        async with app.state.sessionmaker() as session:
            repository = ClientViewRepository(session)
            whole = await repository.load(ws, ids, NOW)
            for leaf in [*leaves(parse_condition(RENEWAL_PLAYBOOK)), *leaves(count)]:
                narrow = await repository.load(ws, ids, NOW, reads={leaf.name})
                for client_id in ids:
                    expected = evaluate(leaf, whole[client_id])
                    assert evaluate(leaf, narrow[client_id]) == expected, leaf
