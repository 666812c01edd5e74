import base64
import json

import pytest

from app.domain.pagination import Cursor, InvalidCursor, decode_cursor, encode_cursor

ROW_ID = "6f1c2a7e-0000-4000-8000-000000000001"


def token(payload: object) -> str:
    """A cursor made by hand, the way a caller could forge one."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


class TestEncodeCursor:
    def test_round_trips_through_decode(self) -> None:
        cursor = Cursor(sort="-name", values=["Globex", ROW_ID])
        assert decode_cursor(encode_cursor(cursor), "-name") == cursor

    def test_is_url_safe_and_unpadded(self) -> None:
        encoded = encode_cursor(Cursor(sort="name", values=["?&/+= ünïcode", ROW_ID]))
        assert set(encoded) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )

    def test_different_positions_give_different_cursors(self) -> None:
        first = encode_cursor(Cursor(sort="name", values=["a", ROW_ID]))
        second = encode_cursor(Cursor(sort="name", values=["b", ROW_ID]))
        assert first != second


class TestDecodeCursor:
    def test_accepts_a_hand_made_cursor_in_the_issued_shape(self) -> None:
        cursor = decode_cursor(
            token({"s": "created_at", "v": ["2026-01-01", ROW_ID]}), "created_at"
        )
        assert cursor == Cursor(sort="created_at", values=["2026-01-01", ROW_ID])

    def test_a_cursor_from_another_sort_is_rejected(self) -> None:
        issued = encode_cursor(Cursor(sort="name", values=["a", ROW_ID]))
        with pytest.raises(InvalidCursor, match="sort='name'"):
            decode_cursor(issued, "-name")

    def test_the_rejection_is_a_400(self) -> None:
        assert InvalidCursor.status == 400

    @pytest.mark.parametrize(
        "forged",
        [
            pytest.param("not a cursor!", id="not-base64-json"),
            pytest.param("A", id="impossible-base64-length"),
            pytest.param(token(["name", ["a", ROW_ID]]), id="json-list"),
            pytest.param(token("name"), id="json-string"),
            pytest.param(token(42), id="json-number"),
            pytest.param(token({"v": ["a", ROW_ID]}), id="no-sort"),
            pytest.param(token({"s": "name"}), id="no-values"),
            pytest.param(token({"s": "name", "v": 7}), id="values-not-a-list"),
            pytest.param(base64.urlsafe_b64encode(b"\xff\xfe{").decode(), id="not-utf8"),
            pytest.param("", id="empty"),
        ],
    )
    def test_a_tampered_cursor_is_rejected(self, forged: str) -> None:
        with pytest.raises(InvalidCursor):
            decode_cursor(forged, "name")

    def test_a_truncated_cursor_is_rejected(self) -> None:
        issued = encode_cursor(Cursor(sort="name", values=["Globex", ROW_ID]))
        with pytest.raises(InvalidCursor):
            decode_cursor(issued[: len(issued) // 2], "name")
