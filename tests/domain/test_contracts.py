from datetime import date
from decimal import Decimal

import pytest

from app.domain.contracts import (
    ContractStatus,
    ContractTerms,
    check_terms,
    is_live,
    mrr,
    next_renewal_on,
)
from app.errors import InvalidInput

TODAY = date(2026, 6, 15)


def terms(
    amount: str = "100.00",
    *,
    starts_on: date = date(2026, 1, 1),
    ends_on: date | None = None,
    currency: str = "USD",
    status: ContractStatus = ContractStatus.ACTIVE,
) -> ContractTerms:
    return ContractTerms(
        starts_on=starts_on,
        ends_on=ends_on,
        amount=Decimal(amount),
        currency=currency,
        status=status,
    )


class TestCheckTerms:
    def test_ends_on_before_starts_on_is_invalid(self) -> None:
        with pytest.raises(InvalidInput) as raised:
            check_terms(terms(starts_on=date(2026, 3, 1), ends_on=date(2026, 2, 28)))
        assert raised.value.errors is not None
        assert raised.value.errors[0]["loc"] == ["body", "ends_on"]

    def test_a_one_day_contract_is_valid(self) -> None:
        check_terms(terms(starts_on=date(2026, 3, 1), ends_on=date(2026, 3, 1)))

    def test_an_open_ended_contract_is_valid(self) -> None:
        check_terms(terms(ends_on=None))


class TestIsLive:
    def test_is_live_on_its_first_day(self) -> None:
        assert is_live(terms(starts_on=TODAY), TODAY)

    def test_is_not_live_before_it_starts(self) -> None:
        assert not is_live(terms(starts_on=date(2026, 6, 16)), TODAY)

    def test_is_live_on_its_last_day_because_ends_on_is_inclusive(self) -> None:
        assert is_live(terms(ends_on=TODAY), TODAY)

    def test_is_not_live_the_day_after_it_ends(self) -> None:
        assert not is_live(terms(ends_on=date(2026, 6, 14)), TODAY)

    def test_an_open_ended_contract_stays_live(self) -> None:
        assert is_live(terms(ends_on=None), date(2099, 12, 31))

    def test_a_cancelled_contract_is_never_live(self) -> None:
        assert not is_live(terms(status=ContractStatus.CANCELLED), TODAY)


class TestMrr:
    def test_no_contracts_is_no_revenue(self) -> None:
        assert mrr([], TODAY) == {}

    def test_overlapping_contracts_in_one_currency_add_up_exactly(self) -> None:
        contracts = [terms("0.10"), terms("0.20"), terms("1250.5")]
        assert mrr(contracts, TODAY) == {"USD": Decimal("1250.80")}

    def test_currencies_are_never_added_together(self) -> None:
        contracts = [terms("100", currency="USD"), terms("80", currency="EUR"), terms("5")]
        assert mrr(contracts, TODAY) == {"EUR": Decimal("80"), "USD": Decimal("105")}

    def test_currencies_come_sorted(self) -> None:
        contracts = [terms(currency="USD"), terms(currency="EUR"), terms(currency="GBP")]
        assert list(mrr(contracts, TODAY)) == ["EUR", "GBP", "USD"]

    def test_a_contract_ending_today_still_counts(self) -> None:
        assert mrr([terms("40", ends_on=TODAY)], TODAY) == {"USD": Decimal("40")}

    def test_an_ended_contract_does_not_count(self) -> None:
        contracts = [terms("40", ends_on=date(2026, 6, 14)), terms("7")]
        assert mrr(contracts, TODAY) == {"USD": Decimal("7")}

    def test_a_contract_starting_later_does_not_count(self) -> None:
        contracts = [terms("40", starts_on=date(2026, 7, 1)), terms("7")]
        assert mrr(contracts, TODAY) == {"USD": Decimal("7")}

    def test_a_cancelled_contract_does_not_count(self) -> None:
        contracts = [terms("40", status=ContractStatus.CANCELLED), terms("7")]
        assert mrr(contracts, TODAY) == {"USD": Decimal("7")}

    def test_a_currency_with_only_dead_contracts_is_left_out(self) -> None:
        contracts = [terms("9", currency="EUR", ends_on=date(2026, 1, 31)), terms("7")]
        assert mrr(contracts, TODAY) == {"USD": Decimal("7")}

    def test_the_same_contracts_give_a_different_total_on_another_day(self) -> None:
        contracts = [
            terms("100", ends_on=date(2026, 3, 31)),
            terms("200", starts_on=date(2026, 4, 1)),
        ]
        assert mrr(contracts, date(2026, 3, 31)) == {"USD": Decimal("100")}
        assert mrr(contracts, date(2026, 4, 1)) == {"USD": Decimal("200")}


class TestNextRenewalOn:
    def test_is_the_nearest_end_date(self) -> None:
        contracts = [terms(ends_on=date(2027, 1, 31)), terms(ends_on=date(2026, 9, 30))]
        assert next_renewal_on(contracts, TODAY) == date(2026, 9, 30)

    def test_a_contract_ending_today_renews_today(self) -> None:
        contracts = [terms(ends_on=TODAY), terms(ends_on=date(2026, 9, 30))]
        assert next_renewal_on(contracts, TODAY) == TODAY

    def test_ignores_contracts_that_already_ended(self) -> None:
        contracts = [terms(ends_on=date(2026, 6, 14)), terms(ends_on=date(2026, 9, 30))]
        assert next_renewal_on(contracts, TODAY) == date(2026, 9, 30)

    def test_ignores_cancelled_contracts(self) -> None:
        contracts = [
            terms(ends_on=date(2026, 7, 1), status=ContractStatus.CANCELLED),
            terms(ends_on=date(2026, 9, 30)),
        ]
        assert next_renewal_on(contracts, TODAY) == date(2026, 9, 30)

    def test_open_ended_contracts_have_no_renewal(self) -> None:
        assert next_renewal_on([terms(ends_on=None)], TODAY) is None

    def test_no_contracts_have_no_renewal(self) -> None:
        assert next_renewal_on([], TODAY) is None
