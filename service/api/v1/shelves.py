"""Platform shelves: the tickers a platform offers, which a variant may be restricted to.

Shelves are loaded by ``plusalpha shelves import`` (and the sample's with the sample); any key
that may read models may see them: they hold nothing but public tickers.
"""

from __future__ import annotations

from flask.views import MethodView

from schemas.shelves import ShelfListSchema, ShelfSchema

from ..auth import require
from ..blueprint import Blueprint
from ..conditional import conditional
from ..errors import fail
from ..extensions import get_session

blp = Blueprint("shelves", __name__, url_prefix="/v1/shelves", description="Platform shelves")


@blp.route("")
class Shelves(MethodView):
    @require("models:read")
    @conditional
    @blp.conditional_doc
    @blp.response(200, ShelfListSchema)
    def get(self):
        """Every shelf"""
        from ...ledger import list_shelves

        return {"data": list_shelves(get_session()), "next_cursor": None}


@blp.route("/<shelf_id>")
class Shelf(MethodView):
    @require("models:read")
    @conditional
    @blp.conditional_doc
    @blp.response(200, ShelfSchema)
    def get(self, shelf_id: str):
        """One shelf and its tickers"""
        from ...ledger import get_shelf

        shelf = get_shelf(get_session(), shelf_id)
        if shelf is None:
            fail(404, f"no shelf {shelf_id!r}", field="shelf_id", location="path")
        return shelf
