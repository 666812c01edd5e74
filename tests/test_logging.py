import json
import logging

from app.logging import JsonFormatter, request_id_var


def _line(message: str, **extra: object) -> dict[str, object]:
    record = logging.getLogger("tenure.test").makeRecord(
        "tenure.test", logging.INFO, __file__, 1, message, (), None, extra=extra
    )
    parsed: dict[str, object] = json.loads(JsonFormatter().format(record))
    return parsed


class TestJsonFormatter:
    def test_a_record_made_during_a_request_carries_its_id(self) -> None:
        token = request_id_var.set("req-1")
        try:
            line = _line("inside", path="/v1/clients")
        finally:
            request_id_var.reset(token)
        assert line["request_id"] == "req-1"
        assert line["path"] == "/v1/clients"

    def test_empty_fields_and_coloured_copies_are_left_out(self) -> None:
        line = _line("outside", color_message="\x1b[36mx\x1b[0m", status=None)
        assert set(line) == {"time", "level", "logger", "message"}
