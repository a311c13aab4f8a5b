"""runtime/http.py's checks for input storage cannot hold, without a server: which fields
hold a NUL byte, and which dates and cursor timestamps are out of range."""

from datetime import date

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from runtime.http import SaneDate, _nul_fields, moment


def scope(path: str = "/v1/x", query: bytes = b"", content_type: bytes = b"application/json") -> dict:
    return {"type": "http", "path": path, "query_string": query, "headers": [(b"content-type", content_type)]}


def test_nul_bytes_are_found_by_field_in_path_query_json_and_form() -> None:
    assert _nul_fields(scope("/v1/cases/\x00"), b"") == ["path"]
    assert _nul_fields(scope(query=b"a=1&category=x%00y"), b"") == ["query.category"]
    body = b'{"description": "ok", "address": {"toevoeging": "\\u0000"}, "tags": ["a", "b\\u0000"]}'
    assert _nul_fields(scope(), body) == ["body.address.toevoeging", "body.tags.1"]
    form = scope(content_type=b"application/x-www-form-urlencoded")
    assert _nul_fields(form, b"token=abc%00def") == ["body.token"]


def test_an_escaped_backslash_before_u0000_is_not_a_nul() -> None:
    assert _nul_fields(scope(), b'{"description": "C:\\\\u0000 is a path"}') == []


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00", "1899-12-31T00:00:00",
                                   "3000-01-01T00:00:00+00:00", "not a time"])
def test_cursor_moments_out_of_range_are_a_422_naming_the_field(value: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        moment(value, "cursor")
    assert caught.value.errors()[0]["loc"] == ("query", "cursor")


def test_dates_in_range_pass_and_others_do_not() -> None:
    days = TypeAdapter(SaneDate)
    assert days.validate_python("2026-12-02") == date(2026, 12, 2)
    assert moment("2026-12-02T10:00:00+01:00", "cursor").year == 2026
    for bad in ("0001-01-01", "9999-12-31"):
        with pytest.raises(ValidationError, match="out of range"):
            days.validate_python(bad)
