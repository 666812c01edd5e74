"""Dialect-spelled SQL helpers on a real database: `in_ids` selects exactly the listed rows, with
the ids in one parameter whatever their number."""

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from app.db.functions import in_ids
from app.db.models import Client
from tests.conditions_support import ClientData, Portfolio, insert_portfolio


@pytest.fixture
async def portfolio(app: FastAPI) -> Portfolio:
    items = [
        ClientData(f"c{i}", None, "adoption", "active", None, {}, [], [], [], None, [])
        for i in range(6)
    ]
    async with app.state.sessionmaker() as session:
        return await insert_portfolio(session, items)


async def selected(app: FastAPI, where: Any) -> list[uuid.UUID]:
    async with app.state.sessionmaker() as session:
        stmt = sa.select(Client.id).where(where).order_by(Client.id)
        return list((await session.execute(stmt)).scalars().all())


class TestInIds:
    async def test_selects_the_listed_rows_once_each_and_ignores_unknown_ids(
        self, app: FastAPI, portfolio: Portfolio
    ) -> None:
        ids = portfolio.client_ids
        listed = [ids[4], ids[1], ids[4], uuid.uuid4()]
        assert await selected(app, in_ids(Client.id, listed)) == sorted([ids[1], ids[4]])

    async def test_an_empty_list_selects_nothing_and_its_negation_everything(
        self, app: FastAPI, portfolio: Portfolio
    ) -> None:
        assert await selected(app, in_ids(Client.id, [])) == []
        everything = await selected(app, sa.not_(in_ids(Client.id, [])))
        assert everything == sorted(portfolio.client_ids)

    async def test_negation_selects_the_rest(self, app: FastAPI, portfolio: Portfolio) -> None:
        ids = portfolio.client_ids
        assert await selected(app, sa.not_(in_ids(Client.id, ids[:2]))) == sorted(ids[2:])

    async def test_one_id_or_many_is_the_same_statement_with_one_parameter(
        self, app: FastAPI, portfolio: Portfolio
    ) -> None:
        seen: list[tuple[str, Any]] = []

        def record(*args: Any) -> None:
            seen.append((args[2], args[3]))

        engine = app.state.engine.sync_engine
        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            one = await selected(app, in_ids(Client.id, portfolio.client_ids[:1]))
            many = await selected(app, in_ids(Client.id, [*portfolio.client_ids, *range_ids(500)]))
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)
        assert (len(one), len(many)) == (1, 6)
        (text_one, params_one), (text_many, params_many) = seen
        assert text_one == text_many
        assert len(params_one) == len(params_many) == 1


def range_ids(count: int) -> list[uuid.UUID]:
    return [uuid.UUID(int=n) for n in range(1, count + 1)]
