import uuid

import pytest

from app.domain.concurrency import check_if_match, etag
from app.errors import PreconditionFailed

ROW = uuid.UUID("6f1c2a7e-0000-4000-8000-000000000001")
CURRENT = etag(ROW, 3)


class TestEtag:
    def test_is_a_quoted_strong_tag_of_id_and_version(self) -> None:
        assert etag(ROW, 3) == f'"{ROW.hex}.3"'

    def test_changes_with_the_version(self) -> None:
        assert etag(ROW, 4) != CURRENT

    def test_differs_between_rows_at_the_same_version(self) -> None:
        assert etag(uuid.uuid4(), 3) != CURRENT


class TestCheckIfMatch:
    def test_no_header_lets_the_last_writer_win(self) -> None:
        check_if_match(None, CURRENT)

    def test_the_current_tag_matches(self) -> None:
        check_if_match(CURRENT, CURRENT)

    def test_a_stale_tag_fails_the_precondition(self) -> None:
        with pytest.raises(PreconditionFailed):
            check_if_match(etag(ROW, 2), CURRENT)

    def test_the_tag_of_another_row_fails_the_precondition(self) -> None:
        with pytest.raises(PreconditionFailed):
            check_if_match(etag(uuid.uuid4(), 3), CURRENT)

    def test_a_star_matches_any_current_tag(self) -> None:
        check_if_match("*", CURRENT)

    def test_a_star_among_other_tags_matches(self) -> None:
        check_if_match(f"{etag(ROW, 1)}, *", CURRENT)

    def test_any_listed_tag_may_match(self) -> None:
        check_if_match(f'{etag(ROW, 1)}, "other", {CURRENT}', CURRENT)

    def test_a_list_without_the_current_tag_fails(self) -> None:
        with pytest.raises(PreconditionFailed):
            check_if_match(f"{etag(ROW, 1)}, {etag(ROW, 2)}", CURRENT)

    def test_spaces_around_listed_tags_are_ignored(self) -> None:
        check_if_match(f"  {etag(ROW, 1)} ,{CURRENT}  ", CURRENT)

    def test_a_weak_form_of_the_current_tag_matches(self) -> None:
        # Proxies that compress responses weaken ETags; the tag still names this version.
        check_if_match(f"W/{CURRENT}", CURRENT)

    def test_a_weak_form_of_a_stale_tag_fails(self) -> None:
        with pytest.raises(PreconditionFailed):
            check_if_match(f"W/{etag(ROW, 2)}", CURRENT)

    def test_an_unquoted_tag_does_not_match(self) -> None:
        with pytest.raises(PreconditionFailed):
            check_if_match(CURRENT.strip('"'), CURRENT)

    def test_an_empty_header_fails(self) -> None:
        with pytest.raises(PreconditionFailed):
            check_if_match("", CURRENT)

    def test_the_failure_is_a_412(self) -> None:
        assert PreconditionFailed.status == 412
