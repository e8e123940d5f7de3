"""GET /v1/health: the state of Redis and of the ledger, without a key.

A component down makes it 503 with ``Retry-After``, like every other answer of an outage.
"""

from http import HTTPStatus

from flask.views import MethodView

from schemas.common import HealthSchema

from ..blueprint import PROBLEM_HEADERS, Blueprint
from ..errors import UNAVAILABLE_RETRY_AFTER_SECONDS
from ..extensions import get_redis, get_session

blp = Blueprint("health", __name__, url_prefix="/v1/health", description="Service health")


RETRY_AFTER_HEADER = PROBLEM_HEADERS[HTTPStatus.SERVICE_UNAVAILABLE]["Retry-After"]


@blp.route("")
class Health(MethodView):
    @blp.doc(security=[])
    @blp.response(200, HealthSchema)
    @blp.alt_response(
        503,
        schema=HealthSchema,
        description="A component is down",
        headers={"Retry-After": RETRY_AFTER_HEADER},
    )
    def get(self):
        """The state of Redis and of the ledger"""
        up = components_up()
        state = {name: "ok" if answers else "down" for name, answers in up.items()}
        if all(up.values()):
            return {"status": "ok", **state}
        retry = {"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)}
        return {"status": "degraded", **state}, 503, retry


def components_up() -> dict[str, bool]:
    """Whether Redis answers a PING and the ledger a ``SELECT 1``, each within the fail-fast
    timeouts of its client; never raises (``GET /metrics`` reads it too)."""
    from sqlalchemy import text

    from ...cache import ping

    try:
        get_session().execute(text("SELECT 1"))
        ledger = True
    except Exception:  # any failure of the database is "down", not a 500
        ledger = False
    return {"redis": ping(get_redis()), "ledger": ledger}
