"""Query of a model's fact sheet."""

from marshmallow import fields, validate

from .common import StrictSchema

FACTSHEET_FORMATS = ("html", "pdf")
MONTH = validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="Must be a month written YYYY-MM.")


def as_of_month(description: str) -> fields.String:
    return fields.String(
        validate=MONTH, metadata={"description": description, "example": "2023-12"}
    )


class FactsheetQuerySchema(StrictSchema):
    format = fields.String(
        validate=validate.OneOf(FACTSHEET_FORMATS),
        metadata={"description": "html or pdf; by the Accept header when absent (html)."},
    )
    as_of = as_of_month(
        "The month of the fact sheet, YYYY-MM; the latest by default (kept rendered). An earlier "
        "month is rendered on demand."
    )
