"""The Blueprint every resource uses: unknown query parameters are errors, not ignored.

webargs ignores unknown query parameters by default; a platform that misspells ``as_of``
would silently get today's weights. Here the schemas' ``unknown = RAISE`` decides everywhere.

Two savings on the hot read path (a weights read with no query string spends a tenth of its time
parsing nothing otherwise): an arguments schema given as a class is instantiated once, not on
every request, and an absent query string loads as the schema's defaults, computed once.
"""

import flask_smorest
from flask import request
from marshmallow import Schema
from webargs.flaskparser import FlaskParser

QUERY_LOCATIONS = ("query", "querystring")


class StrictParser(FlaskParser):
    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": None,
        "querystring": None,
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._defaults: dict[Schema, dict] = {}

    def parse(self, argmap, req=None, *, location=None, **kwargs):
        if location not in QUERY_LOCATIONS or request.args or not isinstance(argmap, Schema):
            return super().parse(argmap, req, location=location, **kwargs)
        if argmap not in self._defaults:
            self._defaults[argmap] = super().parse(argmap, req, location=location, **kwargs)
        return dict(self._defaults[argmap])


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = StrictParser()

    def arguments(self, schema, *args, **kwargs):
        return super().arguments(schema() if isinstance(schema, type) else schema, *args, **kwargs)
