"""The revenue ledger: which contracts are live on a day, and what they add up to."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from app.errors import InvalidInput


class ContractStatus(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class ContractTerms:
    starts_on: date
    ends_on: date | None
    amount: Decimal
    currency: str
    status: ContractStatus


def check_terms(terms: ContractTerms) -> None:
    if terms.ends_on is not None and terms.ends_on < terms.starts_on:
        raise InvalidInput(
            "ends_on is before starts_on",
            errors=[{"loc": ["body", "ends_on"], "msg": "before starts_on", "type": "value_error"}],
        )


def is_live(terms: ContractTerms, on: date) -> bool:
    """Active, started, and not past its last day (`ends_on` is inclusive; None = open-ended)."""
    return (
        terms.status is ContractStatus.ACTIVE
        and terms.starts_on <= on
        and (terms.ends_on is None or on <= terms.ends_on)
    )


def mrr(contracts: list[ContractTerms], on: date) -> dict[str, Decimal]:
    """Monthly recurring revenue per currency; amounts in different currencies never mix."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for terms in contracts:
        if is_live(terms, on):
            totals[terms.currency] += terms.amount
    return dict(sorted(totals.items()))


def next_renewal_on(contracts: list[ContractTerms], today: date) -> date | None:
    """The nearest end date, today or later, of an active contract."""
    ends = [
        t.ends_on
        for t in contracts
        if t.status is ContractStatus.ACTIVE and t.ends_on is not None and t.ends_on >= today
    ]
    return min(ends, default=None)


ContractEnd = Literal["expired", "cancelled"]


def end_reason(terms: ContractTerms, today: date) -> ContractEnd | None:
    """Why a contract is over on `today` (the day after its last day, or cancelled), or None
    while it runs or has yet to begin."""
    if terms.status is ContractStatus.CANCELLED:
        return "cancelled"
    if terms.ends_on is not None and terms.ends_on < today:
        return "expired"
    return None
