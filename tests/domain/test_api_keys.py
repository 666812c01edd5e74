import hashlib
import itertools

import pytest

from app.domain.api_keys import (
    DISPLAY_PREFIX_LENGTH,
    KEY_PREFIX,
    Scope,
    generate_key,
    grants,
    hash_key,
    normalize_scopes,
    parse_scopes,
)
from app.errors import InvalidInput


class TestGenerateKey:
    def test_the_secret_is_recognisable_by_its_prefix(self) -> None:
        assert generate_key().secret.startswith(KEY_PREFIX)

    def test_the_display_prefix_is_the_start_of_the_secret(self) -> None:
        key = generate_key()
        assert len(key.prefix) == DISPLAY_PREFIX_LENGTH
        assert key.secret.startswith(key.prefix)

    def test_only_the_hash_of_the_secret_is_kept(self) -> None:
        key = generate_key()
        assert key.hash == hash_key(key.secret)
        assert key.secret not in key.hash

    def test_every_key_is_different(self) -> None:
        secrets = {generate_key().secret for _ in range(50)}
        assert len(secrets) == 50

    def test_the_secret_carries_at_least_256_random_bits(self) -> None:
        body = generate_key().secret.removeprefix(KEY_PREFIX)
        assert len(body) >= 43  # 32 bytes in unpadded base64


class TestHashKey:
    def test_is_the_sha256_hex_digest(self) -> None:
        assert hash_key("tnr_abc") == hashlib.sha256(b"tnr_abc").hexdigest()

    def test_different_secrets_hash_differently(self) -> None:
        assert hash_key("tnr_a") != hash_key("tnr_b")


class TestParseScopes:
    def test_reads_a_comma_separated_list(self) -> None:
        assert parse_scopes("read,write") == [Scope.READ, Scope.WRITE]

    def test_ignores_spaces_and_empty_entries(self) -> None:
        assert parse_scopes(" write , ,read ,") == [Scope.READ, Scope.WRITE]

    def test_orders_scopes_canonically(self) -> None:
        assert parse_scopes("admin,write,read") == [Scope.READ, Scope.WRITE, Scope.ADMIN]

    def test_drops_duplicates(self) -> None:
        assert parse_scopes("read,read") == [Scope.READ]

    def test_an_empty_list_is_invalid(self) -> None:
        with pytest.raises(InvalidInput, match="at least one scope"):
            parse_scopes(" , ")

    def test_an_unknown_scope_is_invalid(self) -> None:
        with pytest.raises(InvalidInput, match="unknown scope"):
            parse_scopes("read,delete")

    def test_scope_names_are_case_sensitive(self) -> None:
        with pytest.raises(InvalidInput):
            parse_scopes("READ")


class TestNormalizeScopes:
    def test_accepts_a_list_of_names(self) -> None:
        assert normalize_scopes(["write", "admin"]) == [Scope.WRITE, Scope.ADMIN]

    def test_an_empty_list_is_invalid(self) -> None:
        with pytest.raises(InvalidInput):
            normalize_scopes([])


class TestGrants:
    @pytest.mark.parametrize("needed", list(Scope))
    def test_admin_grants_every_scope(self, needed: Scope) -> None:
        assert grants([Scope.ADMIN], needed)

    def test_read_grants_read(self) -> None:
        assert grants([Scope.READ], Scope.READ)

    def test_read_does_not_grant_write(self) -> None:
        assert not grants([Scope.READ], Scope.WRITE)

    def test_write_does_not_grant_read_so_ingest_keys_exist(self) -> None:
        assert not grants([Scope.WRITE], Scope.READ)

    def test_read_and_write_together_do_not_grant_admin(self) -> None:
        assert not grants([Scope.READ, Scope.WRITE], Scope.ADMIN)

    def test_no_scopes_grant_nothing(self) -> None:
        assert not any(grants([], needed) for needed in Scope)

    def test_every_combination_without_admin_grants_exactly_what_it_holds(self) -> None:
        plain = [Scope.READ, Scope.WRITE]
        for size in range(len(plain) + 1):
            for held in itertools.combinations(plain, size):
                for needed in Scope:
                    assert grants(list(held), needed) is (needed in held), (held, needed)
