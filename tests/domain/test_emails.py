"""The email rules on plain values: the action's parameters, the guards, the settings."""

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.emails import (
    DEFAULT_SETTINGS,
    EmailSettings,
    EmailStatus,
    GuardInput,
    RecipientKind,
    apply_changes,
    cap_window_start,
    check_reviewable,
    from_document,
    is_address,
    normalize_address,
    parse_params,
    refusal,
    to_document,
)
from app.errors import Conflict, InvalidInput

TEMPLATE = "4b6a4e0c-3d5e-4c07-9a53-7d2f1c9e8a10"


class TestParams:
    def test_the_defaults_are_the_primary_contact_from_the_owner(self) -> None:
        parsed, problems = parse_params({"template_id": TEMPLATE})
        assert problems == []
        assert parsed is not None
        assert parsed.to.kind is RecipientKind.PRIMARY_CONTACT
        assert parsed.sender.email is None
        assert (parsed.review, parsed.allow_churned, parsed.integration_id) == (None, False, None)

    def test_a_role_an_owner_and_an_explicit_sender_are_read(self) -> None:
        parsed, _ = parse_params(
            {
                "template_id": TEMPLATE,
                "to": {"role": " CFO "},
                "from": {"email": "cs@acme.example", "name": "Acme CS"},
                "review": True,
                "allow_churned": True,
            }
        )
        assert parsed is not None
        assert (parsed.to.kind, parsed.to.role) == (RecipientKind.ROLE, "CFO")
        assert (parsed.sender.email, parsed.sender.name) == ("cs@acme.example", "Acme CS")
        assert (parsed.review, parsed.allow_churned) == (True, True)
        owner, _ = parse_params({"template_id": TEMPLATE, "to": "owner"})
        assert owner is not None
        assert owner.to.kind is RecipientKind.OWNER

    def test_every_problem_is_reported_at_once(self) -> None:
        parsed, problems = parse_params(
            {
                "to": {"role": ""},
                "from": {"email": "not an address"},
                "review": "yes",
                "integration_id": "x",
                "cc": "someone",
            }
        )
        assert parsed is None
        assert problems == [
            "unknown parameters: cc",
            "`template_id` is required",
            "`integration_id` must be an id",
            "`to.role` must be a contact role of 1..200 characters",
            "`from.email` must be an email address",
            "`review` must be true or false",
        ]

    @pytest.mark.parametrize("to", ["contact", {"role": "x", "extra": 1}, 3, ["owner"]])
    def test_an_unknown_recipient_is_refused(self, to: object) -> None:
        _, problems = parse_params({"template_id": TEMPLATE, "to": to})
        assert len(problems) == 1
        assert problems[0].startswith("`to` must be")

    @pytest.mark.parametrize("sender", ["me", {"name": "No address"}, {"email": "a@b.c", "x": 1}])
    def test_an_unknown_sender_is_refused(self, sender: object) -> None:
        _, problems = parse_params({"template_id": TEMPLATE, "from": sender})
        assert len(problems) == 1
        assert problems[0].startswith("`from` must be")


class TestAddresses:
    def test_addresses_compare_trimmed_and_lower_cased(self) -> None:
        assert normalize_address("  Dana@Globex.Example ") == "dana@globex.example"

    @pytest.mark.parametrize(
        ("text", "valid"),
        [
            ("dana@globex.example", True),
            ("dana@localhost", False),
            ("Dana <dana@globex.example>", False),
            ("dana globex@example.com", False),
            ("@example.com", False),
        ],
    )
    def test_what_can_be_an_address(self, text: str, valid: bool) -> None:
        assert is_address(text) is valid


def _facts(**changes: object) -> GuardInput:
    base: dict[str, object] = {
        "client_churned": False,
        "allow_churned": False,
        "suppression": None,
        "recent_count": 0,
    }
    return GuardInput(**{**base, **changes})  # type: ignore[arg-type]


class TestGuards:
    def test_an_email_within_every_guard_may_go(self) -> None:
        assert refusal(_facts(recent_count=2), DEFAULT_SETTINGS) is None

    def test_a_churned_client_is_refused_unless_the_action_allows_it(self) -> None:
        reason = refusal(_facts(client_churned=True), DEFAULT_SETTINGS)
        assert reason is not None
        assert "churned" in reason
        assert refusal(_facts(client_churned=True, allow_churned=True), DEFAULT_SETTINGS) is None

    def test_a_suppressed_address_is_refused_with_the_list_reason(self) -> None:
        reason = refusal(_facts(suppression="bounce"), DEFAULT_SETTINGS)
        assert reason == "the address is on the suppression list (bounce)"

    def test_the_cap_refuses_the_email_past_n(self) -> None:
        settings = EmailSettings(cap_count=2, cap_days=14)
        assert refusal(_facts(recent_count=1), settings) is None
        reason = refusal(_facts(recent_count=2), settings)
        assert reason is not None
        assert "2 email(s) in the last 14 day(s), at most 2" in reason

    def test_the_most_lasting_reason_is_named_first(self) -> None:
        reason = refusal(
            _facts(client_churned=True, suppression="complaint", recent_count=9), DEFAULT_SETTINGS
        )
        assert reason is not None
        assert "churned" in reason

    def test_the_cap_window_reaches_back_its_days(self) -> None:
        now = datetime(2026, 11, 30, 12, tzinfo=UTC)
        assert cap_window_start(EmailSettings(cap_days=7), now) == now - timedelta(days=7)


class TestSettings:
    def test_defaults_are_three_in_seven_days_without_review(self) -> None:
        assert to_document(DEFAULT_SETTINGS) == {"cap_count": 3, "cap_days": 7, "review": False}

    def test_a_stored_document_reads_over_the_defaults(self) -> None:
        assert from_document({"cap_count": 5, "retired": 1}) == EmailSettings(cap_count=5)

    def test_changes_apply_and_bad_values_are_all_reported(self) -> None:
        assert apply_changes(DEFAULT_SETTINGS, {"review": True}).review is True
        with pytest.raises(InvalidInput) as raised:
            apply_changes(DEFAULT_SETTINGS, {"cap_count": 0, "cap_days": True, "review": 1})
        assert raised.value.errors is not None
        assert [e["loc"][-1] for e in raised.value.errors] == ["cap_count", "cap_days", "review"]


class TestReview:
    def test_only_a_draft_is_reviewed(self) -> None:
        check_reviewable(EmailStatus.DRAFT)
        for status in set(EmailStatus) - {EmailStatus.DRAFT}:
            with pytest.raises(Conflict):
                check_reviewable(status)
