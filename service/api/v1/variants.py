"""Licensees' variants (scope ``variants:write``): create one, list them, retire one.

A variant is a model of one tenant, derived from one of the nine; once built it has every model
route (``/v1/models/{id}/...``), seen only by keys of its tenant that may read its base model
(``service.api.auth.licensed``). A key creates variants for its own tenant; an ``admin`` key may
name another. The build is an RQ job (``service.worker.variants``): the answer is 202, with the
variant ``building`` and ``Location: /v1/models/{id}``, where its status shows.
"""

from __future__ import annotations

from http import HTTPStatus

from flask import current_app
from flask.views import MethodView

from schemas.variants import VariantCreateSchema, VariantListSchema, VariantSchema

from ...engine.variants import FieldError, VariantError
from ...worker.handles import queue_variant_builds
from ..auth import current_key, require
from ..blueprint import Blueprint
from ..errors import Problem, fail, invalid
from ..extensions import get_redis, get_session

SCOPE = "variants:write"
ADMIN = "admin"

blp = Blueprint("variants", __name__, url_prefix="/v1/variants", description="Licensee variants")


def is_admin() -> bool:
    return ADMIN in current_key().scopes


def owned_variant(variant_id: str):
    """The variant, when the key's tenant owns it (an admin key: any); else 404."""
    from ...ledger import get_variant

    variant = get_variant(get_session(), variant_id)
    if variant is None or not (is_admin() or variant.tenant == current_key().tenant):
        fail(404, f"no variant {variant_id!r}", field="variant_id", location="path")
    return variant


def invalid_variant(errors) -> Problem:
    """The 422 of a customization, naming each field at fault."""
    return invalid([{"field": e.field, "in": "json", "message": e.message} for e in errors])


def duplicate(tenant: str, existing: str) -> Problem:
    """The 409 of a variant identical to a live one of the tenant, naming that one."""
    message = f"identical to variant {existing}"
    detail = f"{tenant} has a live variant identical to this one: {existing}"
    return Problem(409, detail, [{"field": "base_model", "in": "json", "message": message}])


@blp.route("")
class Variants(MethodView):
    @require(SCOPE)
    @blp.response(200, VariantListSchema)
    def get(self):
        """The variants of the key's tenant (an admin key: every tenant's), retired ones too"""
        from ...ledger import list_variants

        tenant = None if is_admin() else current_key().tenant
        return {"data": list_variants(get_session(), tenant), "next_cursor": None}

    @require(SCOPE)
    @blp.arguments(VariantCreateSchema)
    @blp.response(
        HTTPStatus.ACCEPTED,
        VariantSchema,
        headers={"Location": {"description": "The variant's model", "schema": {"type": "string"}}},
    )
    @blp.alt_response(403, "FORBIDDEN", description="A key without admin names another tenant")
    @blp.alt_response(
        409,
        "CONFLICT",
        description="A live variant of the tenant has the same base model and settings "
        "(whatever its name); the problem names its id",
    )
    def post(self, body: dict):
        """Create a variant of one of the nine models; it is built in the background

        Anything not given is the base model's. The base model must be one the key may read.
        The answer is the variant as stored, ``building``; ``GET /v1/models/{id}`` shows its
        status until it is ``ready`` (or ``failed``, with the reason), and from then on it
        has every model route. Each bad input is a 422 naming its field. Tickers are matched
        whatever their case and surrounding spaces (``"hyg "`` is HYG); sectors as spelled.
        A variant identical to a live one of the tenant (same base model, same settings once
        defaults are applied, any name) is a 409 naming the existing variant.
        """
        from redis.exceptions import RedisError

        from ...ledger import DuplicateVariant, add_audit_events
        from ...publishing import market_data
        from ...worker.variants import create_variant

        key = current_key()
        tenant = body.get("tenant") or key.tenant
        if tenant != key.tenant and not is_admin():
            fail(403, "only an admin key may create a variant for another tenant", field="tenant")
        if not key.licensed_for(body["base_model"]):
            # As for a model that does not exist: the key learns nothing of the nine beyond it.
            known = "one of the nine models this key may read"
            raise invalid_variant(
                [FieldError("base_model", f"{body['base_model']!r} is not {known}.")]
            )
        session = get_session()
        config = current_app.config
        try:
            variant = create_variant(
                session,
                market_data(config["DATA_DIR"]),
                body,
                tenant=tenant,
                created_by=key.id,
                limit=config["MAX_VARIANTS_PER_TENANT"],
            )
        except VariantError as error:
            session.rollback()
            raise invalid_variant(error.errors) from None
        except DuplicateVariant as error:
            session.rollback()
            raise duplicate(tenant, error.existing) from None
        add_audit_events(
            session,
            [{"action": "create_variant", "key_id": key.id, "model_id": variant.id}],
        )
        session.commit()
        try:
            queue_variant_builds(get_redis(), [variant.id])
        except RedisError:  # the next monthly run builds it (it is ``building``)
            current_app.logger.warning(
                "redis unavailable: %s is queued by the next run", variant.id
            )
        return variant, HTTPStatus.ACCEPTED, {"Location": f"/v1/models/{variant.id}"}


@blp.route("/<variant_id>")
class Variant(MethodView):
    @require(SCOPE)
    @blp.response(200, VariantSchema)
    def get(self, variant_id: str):
        """One variant of the key's tenant, with its status"""
        return owned_variant(variant_id)

    @require(SCOPE)
    @blp.response(200, VariantSchema)
    def delete(self, variant_id: str):
        """Retire a variant: no more builds, its model routes answer 410, its history stays

        Retiring it again changes nothing.
        """
        from ...ledger import add_audit_events, retire_variant

        session = get_session()
        variant = retire_variant(session, owned_variant(variant_id).id)
        add_audit_events(
            session,
            [{"action": "retire_variant", "key_id": current_key().id, "model_id": variant.id}],
        )
        session.commit()
        return variant
