"""Schemas shared by several resources."""

import re

from marshmallow import RAISE, Schema, fields, validate

MAX_PAGE = 100
CURSOR_PATTERN = r"^[A-Za-z0-9_.-]{1,200}$"
"""A cursor is an id or a version this API gave: letters, digits, '_', '.', '-'. Anything else
is refused as the query parses, before it reaches the ledger (PostgreSQL refuses a NUL, say)."""


class StrictSchema(Schema):
    """Unknown fields are an error, named in the answer."""

    class Meta:
        unknown = RAISE


class PageQuerySchema(StrictSchema):
    cursor = fields.String(
        validate=validate.Regexp(CURSOR_PATTERN, error="Not a cursor this API gave."),
        metadata={"description": "The next_cursor of the previous page."},
    )
    limit = fields.Integer(
        load_default=20,
        validate=validate.Range(min=1, max=MAX_PAGE),
        metadata={"description": f"Items per page, 1 to {MAX_PAGE}."},
    )


class HealthSchema(Schema):
    status = fields.String(metadata={"description": "ok, or degraded when a component is down"})
    redis = fields.String()
    ledger = fields.String()


class FieldErrorSchema(Schema):
    field = fields.String(metadata={"description": "The input at fault, e.g. weights[0].weight"})
    location = fields.String(data_key="in", metadata={"description": "query, json, path, ..."})
    message = fields.String()


class ProblemSchema(Schema):
    """RFC 9457 problem details, served as application/problem+json."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.List(fields.Nested(FieldErrorSchema))


TICKER_PATTERN = r"^[A-Z0-9][A-Z0-9.\-/]{0,19}$"
"""A ticker symbol once spaces are dropped and case is ignored: a letter or digit, then up to 19
letters, digits, '.', '-' or '/' (BRK.B, BF-B, Z00CA01)."""
TICKER_INPUT_PATTERN = r"^\s*[A-Za-z0-9][A-Za-z0-9.\-/]{0,19}\s*$"
"""What a client may send, as the OpenAPI document states it."""


class Ticker(fields.String):
    """A ticker as a client names it: surrounding spaces dropped, case ignored (``" mbb"`` is
    ``MBB``); what is not a ticker symbol at all is an error of the field (and its index in a
    list, ``options.restricted[0]``). Only ASCII is a symbol: ``"ſhy"`` is not SHY, though
    Python upper-cases it so."""

    default_error_messages = {"ticker": "Not a ticker symbol: {input!r}."}

    def __init__(self, **kwargs):
        metadata = {"pattern": TICKER_INPUT_PATTERN, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text.isascii() or not re.fullmatch(TICKER_PATTERN, text := text.upper()):
            raise self.make_error("ticker", input=value[:40])
        return text
