import pytest

from app.domain.signal_settings import (
    DEFAULT_SETTINGS,
    apply_changes,
    from_document,
    to_document,
    validate,
)
from app.domain.workspaces import DEFAULT_LIFECYCLE_STAGES, DEFAULT_TIERS
from app.errors import InvalidInput

TIERS = list(DEFAULT_TIERS)
STAGES = list(DEFAULT_LIFECYCLE_STAGES)


class TestDefaults:
    def test_follow_the_documented_practice(self) -> None:
        document = to_document(DEFAULT_SETTINGS)
        assert document["usage_drop"]["window_days"] == 14
        assert document["usage_drop"]["drop_percent"] == 30.0
        assert document["gone_quiet"]["days"] == 45
        assert document["gone_quiet"]["tier_days"] == {"enterprise": 30, "mid": 45, "smb": 60}
        assert document["renewal_approaching"] == {
            "enabled": True,
            "low_days": 90,
            "medium_days": 60,
            "high_days": 30,
        }
        assert document["score_drop"]["points"] == 15.0
        assert document["response_slowdown"] == {
            "enabled": True,
            "window_days": 30,
            "baseline_days": 90,
            "ratio": 2.0,
            "min_pairs": 3,
            "min_recent_hours": 24.0,
            "unanswered_outreaches": 3,
        }
        assert document["spend_drop"]["drop_percent"] == 30.0
        assert document["spend_drop"]["min_baseline_orders"] == 6
        assert document["engagement_drop"]["event_types"] == ["email_clicked", "email_replied"]
        assert document["engagement_drop"]["drop_percent"] == 50.0

    def test_are_valid_for_a_new_workspace(self) -> None:
        assert validate(DEFAULT_SETTINGS, TIERS, STAGES) == DEFAULT_SETTINGS


class TestDocument:
    def test_round_trips(self) -> None:
        assert from_document(to_document(DEFAULT_SETTINGS)) == DEFAULT_SETTINGS

    def test_a_missing_rule_or_field_takes_its_default(self) -> None:
        settings = from_document({"gone_quiet": {"days": 60}})
        assert settings.gone_quiet.days == 60
        assert settings.gone_quiet.tier_days == DEFAULT_SETTINGS.gone_quiet.tier_days
        assert settings.usage_drop == DEFAULT_SETTINGS.usage_drop


class TestApplyChanges:
    def test_changes_only_the_given_fields(self) -> None:
        settings = apply_changes(DEFAULT_SETTINGS, {"usage_drop": {"drop_percent": 40}})
        assert settings.usage_drop.drop_percent == 40
        assert settings.usage_drop.min_baseline == 20

    def test_replaces_a_map_whole(self) -> None:
        settings = apply_changes(DEFAULT_SETTINGS, {"gone_quiet": {"tier_days": {"smb": 90}}})
        assert settings.gone_quiet.tier_days == {"smb": 90}

    def test_keeps_lists_immutable(self) -> None:
        settings = apply_changes(DEFAULT_SETTINGS, {"usage_drop": {"event_types": ["login"]}})
        assert settings.usage_drop.event_types == ("login",)


class TestValidate:
    def _loc(self, changes: dict[str, object]) -> list[list[str]]:
        with pytest.raises(InvalidInput) as raised:
            validate(apply_changes(DEFAULT_SETTINGS, changes), TIERS, STAGES)
        assert raised.value.errors is not None
        return [e["loc"] for e in raised.value.errors]

    def test_an_unknown_tier_is_refused(self) -> None:
        loc = self._loc({"gone_quiet": {"tier_days": {"gold": 10}}})
        assert loc == [["body", "gone_quiet", "tier_days"]]

    def test_an_unknown_stage_is_refused(self) -> None:
        loc = self._loc({"stage_overdue": {"stage_days": {"trial": 10}}})
        assert loc == [["body", "stage_overdue", "stage_days"]]

    def test_an_unknown_event_type_is_refused(self) -> None:
        loc = self._loc({"usage_drop": {"event_types": ["logon"]}})
        assert loc == [["body", "usage_drop", "event_types"]]

    def test_a_custom_event_type_is_accepted(self) -> None:
        changed = apply_changes(DEFAULT_SETTINGS, {"usage_drop": {"event_types": ["custom.run"]}})
        assert validate(changed, TIERS, STAGES).usage_drop.event_types == ("custom.run",)

    def test_engagement_event_types_must_exist(self) -> None:
        loc = self._loc({"engagement_drop": {"event_types": ["email_bounced"]}})
        assert loc == [["body", "engagement_drop", "event_types"]]

    @pytest.mark.parametrize("rule", ["usage_drop", "spend_drop", "engagement_drop"])
    def test_a_high_drop_under_the_drop_is_refused(self, rule: str) -> None:
        loc = self._loc({rule: {"drop_percent": 50, "high_drop_percent": 40}})
        assert loc == [["body", rule, "high_drop_percent"]]

    def test_every_problem_is_reported_at_once(self) -> None:
        loc = self._loc(
            {
                "spend_drop": {"high_drop_percent": 10},
                "engagement_drop": {"event_types": ["nope"], "high_drop_percent": 10},
            }
        )
        assert sorted(loc) == [
            ["body", "engagement_drop", "event_types"],
            ["body", "engagement_drop", "high_drop_percent"],
            ["body", "spend_drop", "high_drop_percent"],
        ]

    def test_renewal_thresholds_must_narrow(self) -> None:
        assert self._loc({"renewal_approaching": {"high_days": 70}}) == [
            ["body", "renewal_approaching"]
        ]

    def test_tiers_and_stages_are_checked_only_when_given(self) -> None:
        changed = apply_changes(
            DEFAULT_SETTINGS,
            {"gone_quiet": {"tier_days": {"gold": 1}}, "stage_overdue": {"stage_days": {"x": 1}}},
        )
        assert validate(changed, None, None) == changed
