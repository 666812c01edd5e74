from datetime import UTC, datetime, timedelta

import pytest

from app.domain.idempotency import (
    ABANDONED_AFTER,
    MAX_KEY_LENGTH,
    Decision,
    StoredAttempt,
    canonical_body,
    decide,
    fingerprint,
    is_valid_key,
)

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
PRINT = fingerprint("POST", "/v1/clients", "", b'{"name": "Globex"}')
OTHER_PRINT = fingerprint("POST", "/v1/clients", "", b'{"name": "Initech"}')


def attempt(
    *,
    completed: bool = True,
    age: timedelta = timedelta(seconds=5),
    ttl: timedelta = timedelta(hours=24),
    print_: str = PRINT,
) -> StoredAttempt:
    created_at = NOW - age
    return StoredAttempt(
        fingerprint=print_, completed=completed, created_at=created_at, expires_at=created_at + ttl
    )


class TestFingerprint:
    def test_the_same_request_has_the_same_fingerprint(self) -> None:
        assert fingerprint("POST", "/v1/clients", "", b'{"name": "Globex"}') == PRINT

    def test_a_different_body_has_a_different_fingerprint(self) -> None:
        assert OTHER_PRINT != PRINT

    def test_a_different_path_has_a_different_fingerprint(self) -> None:
        assert fingerprint("POST", "/v1/owners", "", b'{"name": "Globex"}') != PRINT

    def test_a_different_query_has_a_different_fingerprint(self) -> None:
        assert fingerprint("POST", "/v1/clients", "a=1", b'{"name": "Globex"}') != PRINT

    def test_parts_cannot_be_shifted_into_one_another(self) -> None:
        assert fingerprint("POST", "/v1/a", "b", b"") != fingerprint("POST", "/v1/ab", "", b"")

    def test_the_same_json_with_keys_in_another_order_and_other_spacing_is_the_same(
        self,
    ) -> None:
        reordered = (
            b'{\n  "tier": "mid",\n  "name": "Globex", "attributes": {"b": [1, 2], "a": null}}'
        )
        original = b'{"name":"Globex","attributes":{"a":null,"b":[1,2]},"tier":"mid"}'
        assert fingerprint("POST", "/v1/clients", "", reordered) == fingerprint(
            "POST", "/v1/clients", "", original
        )

    def test_a_different_array_order_is_a_different_request(self) -> None:
        assert fingerprint("POST", "/v1/a", "", b"[1, 2]") != fingerprint(
            "POST", "/v1/a", "", b"[2,1]"
        )


class TestCanonicalBody:
    def test_keys_are_sorted_and_whitespace_dropped_at_every_level(self) -> None:
        body = b'{ "b": {"y": 1, "x": [true, null]}, "a": "z" }'
        assert canonical_body(body) == b'{"a":"z","b":{"x":[true,null],"y":1}}'

    def test_numbers_stay_as_written(self) -> None:
        assert canonical_body(b'{"value": 1.10}') == b'{"value":1.10}'
        assert canonical_body(b'{"value": 1.10}') != canonical_body(b'{"value": 1.1}')
        assert (
            canonical_body(b"[1e400, 12345678901234567890.5]") == b"[1e400,12345678901234567890.5]"
        )

    def test_escaped_and_unescaped_strings_are_the_same_text(self) -> None:
        assert canonical_body('{"n": "Café"}'.encode()) == canonical_body(b'{"n": "Caf\\u00e9"}')

    def test_a_lone_surrogate_stays_escaped(self) -> None:
        assert canonical_body(b'{"n": "\\ud800"}') == b'{"n":"\\ud800"}'

    @pytest.mark.parametrize("body", [b"", b"name=Globex", b'{"name": ', b"\xff\xfe{}"])
    def test_a_body_that_is_not_json_counts_byte_for_byte(self, body: bytes) -> None:
        assert canonical_body(body) == body

    def test_json_nested_too_deep_to_re_serialise_counts_byte_for_byte(self) -> None:
        body = b"[ " * 100_000 + b"]" * 100_000
        assert canonical_body(body) == body
        assert canonical_body(b"[ " * 10 + b"]" * 10) == b"[" * 10 + b"]" * 10


class TestDecide:
    def test_an_unused_key_proceeds(self) -> None:
        assert decide(None, PRINT, NOW) is Decision.PROCEED

    def test_a_completed_identical_request_is_replayed(self) -> None:
        assert decide(attempt(completed=True), PRINT, NOW) is Decision.REPLAY

    def test_a_different_request_under_the_key_is_a_mismatch(self) -> None:
        assert decide(attempt(completed=True), OTHER_PRINT, NOW) is Decision.MISMATCH

    def test_a_different_request_while_the_first_runs_is_a_mismatch(self) -> None:
        assert decide(attempt(completed=False), OTHER_PRINT, NOW) is Decision.MISMATCH

    def test_an_identical_request_while_the_first_runs_is_in_progress(self) -> None:
        assert decide(attempt(completed=False), PRINT, NOW) is Decision.IN_PROGRESS

    def test_a_first_attempt_running_exactly_the_grace_period_is_still_in_progress(self) -> None:
        stored = attempt(completed=False, age=ABANDONED_AFTER)
        assert decide(stored, PRINT, NOW) is Decision.IN_PROGRESS

    def test_a_first_attempt_running_past_the_grace_period_is_taken_over(self) -> None:
        stored = attempt(completed=False, age=ABANDONED_AFTER + timedelta(seconds=1))
        assert decide(stored, PRINT, NOW) is Decision.TAKE_OVER

    def test_a_completed_attempt_is_replayed_however_old_until_it_expires(self) -> None:
        stored = attempt(completed=True, age=timedelta(hours=23))
        assert decide(stored, PRINT, NOW) is Decision.REPLAY

    def test_an_expired_key_is_taken_over(self) -> None:
        stored = attempt(completed=True, age=timedelta(hours=25))
        assert decide(stored, PRINT, NOW) is Decision.TAKE_OVER

    def test_a_key_expiring_this_instant_is_taken_over(self) -> None:
        stored = attempt(completed=True, age=timedelta(hours=24))
        assert decide(stored, PRINT, NOW) is Decision.TAKE_OVER

    def test_an_expired_key_is_free_even_for_a_different_request(self) -> None:
        stored = attempt(completed=True, age=timedelta(hours=25))
        assert decide(stored, OTHER_PRINT, NOW) is Decision.TAKE_OVER


class TestIsValidKey:
    def test_a_uuid_is_a_valid_key(self) -> None:
        assert is_valid_key("2b1f6b5e-8f7e-4c2a-9d1e-3f5a7c9b0d2e")

    def test_a_key_of_the_maximum_length_is_valid(self) -> None:
        assert is_valid_key("k" * MAX_KEY_LENGTH)

    def test_a_key_over_the_maximum_length_is_invalid(self) -> None:
        assert not is_valid_key("k" * (MAX_KEY_LENGTH + 1))

    def test_an_empty_key_is_invalid(self) -> None:
        assert not is_valid_key("")

    @pytest.mark.parametrize("key", [" key", "key ", "ke\ty", "ke\x00y", "key\n"])
    def test_a_key_with_surrounding_space_or_control_characters_is_invalid(self, key: str) -> None:
        assert not is_valid_key(key)

    def test_inner_spaces_are_allowed(self) -> None:
        assert is_valid_key("contract globex 2026")
