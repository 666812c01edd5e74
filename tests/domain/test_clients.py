import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.domain.clients import (
    Churn,
    ClientStatus,
    StageChange,
    check_attributes,
    check_reactivation,
    check_stage,
    check_tier,
    churn,
    stage_change,
)
from app.errors import Conflict, InvalidInput

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
ACQUIRED = datetime(2025, 1, 1, tzinfo=UTC)
TIERS = ["enterprise", "mid", "smb"]
STAGES = ["onboarding", "adoption", "renewal"]


def encoded_size(attributes: dict[str, Any]) -> int:
    """The size the rule measures: compact JSON, UTF-8, non-ASCII kept as is."""
    return len(json.dumps(attributes, separators=(",", ":"), ensure_ascii=False).encode())


class TestCheckTier:
    def test_a_workspace_tier_is_accepted(self) -> None:
        check_tier("mid", TIERS)

    def test_no_tier_is_accepted(self) -> None:
        check_tier(None, TIERS)

    def test_an_unknown_tier_is_invalid_and_points_at_the_field(self) -> None:
        with pytest.raises(InvalidInput) as raised:
            check_tier("platinum", TIERS)
        assert raised.value.errors == [
            {"loc": ["body", "tier"], "msg": "unknown tier", "type": "enum"}
        ]

    def test_tiers_are_case_sensitive(self) -> None:
        with pytest.raises(InvalidInput):
            check_tier("Mid", TIERS)


class TestCheckStage:
    def test_a_workspace_stage_is_accepted(self) -> None:
        check_stage("adoption", STAGES)

    def test_an_unknown_stage_is_invalid_and_points_at_the_field(self) -> None:
        with pytest.raises(InvalidInput) as raised:
            check_stage("expansion", STAGES)
        assert raised.value.errors is not None
        assert raised.value.errors[0]["loc"] == ["body", "lifecycle_stage"]


class TestStageChange:
    def test_a_new_stage_is_a_change_stamped_now(self) -> None:
        assert stage_change("onboarding", "adoption", NOW) == StageChange(
            from_stage="onboarding", to_stage="adoption", changed_at=NOW
        )

    def test_the_same_stage_is_no_change(self) -> None:
        assert stage_change("adoption", "adoption", NOW) is None

    def test_a_first_stage_comes_from_nowhere(self) -> None:
        change = stage_change(None, "onboarding", NOW)
        assert change is not None
        assert change.from_stage is None
        assert change.to_stage == "onboarding"


class TestCheckAttributes:
    def test_attributes_at_the_cap_are_accepted(self) -> None:
        attributes = {"k": "x" * 100}
        check_attributes(attributes, encoded_size(attributes))

    def test_attributes_one_byte_over_the_cap_are_too_large(self) -> None:
        attributes = {"k": "x" * 100}
        with pytest.raises(InvalidInput) as raised:
            check_attributes(attributes, encoded_size(attributes) - 1)
        assert raised.value.errors is not None
        assert raised.value.errors[0]["loc"] == ["body", "attributes"]

    def test_size_is_counted_in_utf8_bytes_not_characters(self) -> None:
        attributes = {"k": "é" * 10}  # {"k":"é…"}: 18 characters, 28 bytes
        with pytest.raises(InvalidInput):
            check_attributes(attributes, 27)

    def test_non_ascii_text_is_not_counted_as_escape_sequences(self) -> None:
        attributes = {"k": "é" * 10}  # 28 bytes as UTF-8, 68 as \u00e9 escapes
        check_attributes(attributes, 28)

    def test_empty_attributes_fit_any_cap(self) -> None:
        check_attributes({}, 2)


class TestChurn:
    def test_an_active_client_churns_at_the_given_time_with_the_reason(self) -> None:
        at = NOW - timedelta(days=3)
        outcome = churn(ClientStatus.ACTIVE, ACQUIRED, at, "budget cut", NOW)
        assert outcome == Churn(churned_at=at, reason="budget cut")

    def test_churning_right_now_is_allowed(self) -> None:
        assert churn(ClientStatus.ACTIVE, ACQUIRED, NOW, "r", NOW).churned_at == NOW

    def test_a_churned_client_cannot_churn_again(self) -> None:
        with pytest.raises(Conflict):
            churn(ClientStatus.CHURNED, ACQUIRED, NOW, "again", NOW)

    def test_churn_in_the_future_is_invalid(self) -> None:
        with pytest.raises(InvalidInput) as raised:
            churn(ClientStatus.ACTIVE, ACQUIRED, NOW + timedelta(seconds=1), "r", NOW)
        assert raised.value.errors is not None
        assert raised.value.errors[0]["loc"] == ["body", "occurred_at"]

    def test_churn_before_acquisition_is_invalid(self) -> None:
        with pytest.raises(InvalidInput):
            churn(ClientStatus.ACTIVE, ACQUIRED, ACQUIRED - timedelta(seconds=1), "r", NOW)

    def test_churn_at_the_moment_of_acquisition_is_allowed(self) -> None:
        assert churn(ClientStatus.ACTIVE, ACQUIRED, ACQUIRED, "r", NOW).churned_at == ACQUIRED

    def test_a_client_without_acquisition_date_may_churn_any_time_in_the_past(self) -> None:
        at = datetime(1999, 1, 1, tzinfo=UTC)
        assert churn(ClientStatus.ACTIVE, None, at, "r", NOW).churned_at == at

    def test_times_in_other_offsets_compare_as_instants(self) -> None:
        # 13:00 at +02:00 is 11:00 UTC: one hour before NOW, so not in the future
        at = datetime.fromisoformat("2026-06-15T13:00:00+02:00")
        assert churn(ClientStatus.ACTIVE, ACQUIRED, at, "r", NOW).churned_at == at


class TestCheckReactivation:
    def test_a_churned_client_can_be_reactivated(self) -> None:
        check_reactivation(ClientStatus.CHURNED)

    def test_an_active_client_cannot_be_reactivated(self) -> None:
        with pytest.raises(Conflict):
            check_reactivation(ClientStatus.ACTIVE)
