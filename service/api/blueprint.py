"""The Blueprint every resource uses: unknown query parameters are errors, not ignored.

webargs ignores unknown query parameters by default; a platform that misspells ``as_of``
would silently get today's weights. Here the schemas' ``unknown = RAISE`` decides everywhere.
"""

import flask_smorest
from webargs.flaskparser import FlaskParser


class StrictParser(FlaskParser):
    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": None,
        "querystring": None,
    }


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = StrictParser()
