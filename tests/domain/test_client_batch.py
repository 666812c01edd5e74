import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain.client_batch import (
    ClientItem,
    Outcome,
    Planned,
    Rejected,
    StoredClient,
    Vocabulary,
    plan,
    repeats,
)

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
OWNER = uuid.UUID("00000000-0000-4000-8000-000000000001")
WORDS = Vocabulary(["mid", "smb"], ["onboarding", "adoption"], {OWNER}, 100)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def item(external_id: str = "crm-1", index: int = 0, **fields: Any) -> ClientItem:
    return ClientItem(index, external_id, fields)


def stored(**values: Any) -> StoredClient:
    base: dict[str, Any] = {
        "name": "Globex",
        "domain": None,
        "owner_id": None,
        "tier": "mid",
        "lifecycle_stage": "onboarding",
        "stage_changed_at": ago(30),
        "status": "active",
        "acquired_at": ago(30),
        "acquired_at_source": "created",
        "churned_at": None,
        "churn_reason": None,
        "attributes": {"plan": "scale"},
    }
    return StoredClient(uuid.uuid4(), ago(30), {**base, **values})


def planned(result: Planned | Rejected) -> Planned:
    assert isinstance(result, Planned), result
    return result


def rejected_fields(result: Planned | Rejected) -> list[Any]:
    assert isinstance(result, Rejected), result
    return [e["loc"][0] for e in result.errors]


class TestRepeats:
    def test_each_later_item_with_a_seen_external_id_names_the_first(self) -> None:
        items = [item("a", 0), item("b", 1), item("a", 2), item("a", 3)]
        assert repeats(items) == {2: 0, 3: 0}


class TestNewClients:
    def test_take_the_defaults_of_a_created_client(self) -> None:
        got = planned(plan(item(name="Globex"), None, WORDS, NOW))
        assert got.outcome is Outcome.CREATED
        assert got.values["lifecycle_stage"] == "onboarding"
        assert (got.values["acquired_at"], got.values["acquired_at_source"]) == (NOW, "created")
        assert got.stage_change is not None
        assert got.stage_change.from_stage is None

    def test_need_a_name(self) -> None:
        assert rejected_fields(plan(item(), None, WORDS, NOW)) == ["name"]

    def test_a_churned_one_was_a_client_by_its_churn(self) -> None:
        churned = item(name="G", status="churned", churned_at=ago(60))
        got = planned(plan(churned, None, WORDS, NOW))
        assert (got.values["acquired_at"], got.values["acquired_at_source"]) == (ago(60), "history")


class TestExistingClients:
    def test_the_same_fields_are_unchanged(self) -> None:
        got = planned(plan(item(name="Globex", tier="mid"), stored(), WORDS, NOW))
        assert got.outcome is Outcome.UNCHANGED

    def test_attributes_merge_and_null_removes_a_key(self) -> None:
        got = planned(plan(item(attributes={"plan": None, "seats": 3}), stored(), WORDS, NOW))
        assert (got.outcome, got.values["attributes"]) == (Outcome.UPDATED, {"seats": 3})

    def test_attributes_beyond_the_limit_are_refused(self) -> None:
        result = plan(item(attributes={"notes": "x" * 100}), stored(), WORDS, NOW)
        assert rejected_fields(result) == ["attributes"]

    def test_every_vocabulary_problem_is_reported_at_once(self) -> None:
        bad = item(tier="gold", lifecycle_stage="limbo", owner_id=uuid.uuid4())
        assert rejected_fields(plan(bad, stored(), WORDS, NOW)) == [
            "tier",
            "lifecycle_stage",
            "owner_id",
        ]

    def test_a_churn_before_a_given_acquisition_is_refused(self) -> None:
        given = stored(acquired_at=ago(30), acquired_at_source="given")
        result = plan(item(status="churned", churned_at=ago(31)), given, WORDS, NOW)
        assert rejected_fields(result) == ["churned_at"]

    def test_a_churn_that_anchored_the_date_and_moves_later_rederives_it(self) -> None:
        anchored = stored(
            status="churned", churned_at=ago(90), acquired_at=ago(90), acquired_at_source="history"
        )
        got = planned(plan(item(status="churned", churned_at=ago(20)), anchored, WORDS, NOW))
        assert (got.rederive, got.values["churned_at"]) == (True, ago(20))

    def test_an_earlier_churn_moves_a_derived_date_without_reading_history(self) -> None:
        got = planned(plan(item(status="churned", churned_at=ago(45)), stored(), WORDS, NOW))
        assert (got.values["acquired_at"], got.values["acquired_at_source"]) == (ago(45), "history")
        assert got.rederive is False

    def test_forgetting_a_given_date_rederives_it(self) -> None:
        given = stored(acquired_at=ago(10), acquired_at_source="given")
        got = planned(plan(item(acquired_at=None), given, WORDS, NOW))
        assert (got.rederive, got.values["acquired_at_source"]) == (True, "created")

    def test_a_new_given_date_recounts_the_escalations(self) -> None:
        got = planned(plan(item(acquired_at=ago(5)), stored(), WORDS, NOW))
        assert (got.values["acquired_at_source"], got.recount_escalations) == ("given", True)

    def test_churn_fields_need_status_churned(self) -> None:
        assert rejected_fields(plan(item(churned_at=ago(1)), stored(), WORDS, NOW)) == [
            "churned_at"
        ]
        assert rejected_fields(
            plan(item(status="active", churn_reason="x"), stored(), WORDS, NOW)
        ) == ["churn_reason"]
