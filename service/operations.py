"""Operations commands: ``plusalpha worker``, ``plusalpha cache rebuild``, ``plusalpha keys``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from .auth import SCOPES, revoke
from .engine.models import MODELS
from .ledger import create_key, key_for_secret
from .worker.jobs import QUEUE, handles, rebuild_cache, run_due, scheduled_run

cache_cli = AppGroup("cache", help="The Redis serving cache.")
keys_cli = AppGroup("keys", help="API keys.")


def init_app(app: Flask) -> None:
    for command in (worker_command, cache_cli, keys_cli):
        app.cli.add_command(command)


def app_handles():
    return handles(current_app.config)


@click.command("worker")
@click.option("--once", is_flag=True, help="Run what is due now and exit.")
@with_appcontext
def worker_command(once: bool) -> None:
    """Run the rebalance worker: the months that are due, then after every month end."""
    h = app_handles()
    if once:
        added = run_due(h, progress=sys.stderr.isatty())
        for model_id, versions in added.items():
            click.echo(f"{model_id}: {len(versions)} new version(s)")
        return
    from rq import Queue, Worker

    queue = Queue(QUEUE, connection=h.redis)
    queue.enqueue(scheduled_run)
    Worker([queue], connection=h.redis).work(with_scheduler=True)


@cache_cli.command("rebuild")
def cache_rebuild() -> None:
    """Refill the cache from the ledger."""
    click.echo(f"published {rebuild_cache(app_handles())} version(s) from the ledger")


@keys_cli.command("demo")
def keys_demo() -> None:
    """Print the demo key kept under the var dir, creating it when missing or revoked."""
    path = Path(current_app.config["VAR_DIR"]) / "demo-key"
    with app_handles().sessions() as session:
        secret = path.read_text().strip() if path.exists() else ""
        key = key_for_secret(session, secret) if secret else None
        if key is None or key.revoked_at is not None:
            _, secret = create_key(
                session, name="demo", tenant="demo", scopes=["models:read", "performance:read"]
            )
            session.commit()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secret)
            path.chmod(0o600)
    click.echo(secret)


@keys_cli.command("create")
@click.option("--name", required=True, help="Who the key is for.")
@click.option("--tenant", default="plusalpha", show_default=True)
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(SCOPES))
@click.option(
    "--model",
    "models",
    multiple=True,
    type=click.Choice(list(MODELS)),
    help="A licensed model (repeat); all models when none is given.",
)
def keys_create(name: str, tenant: str, scopes: tuple, models: tuple) -> None:
    """Create a key and print its secret, once."""
    with app_handles().sessions() as session:
        key, secret = create_key(
            session, name=name, tenant=tenant, scopes=list(scopes), models=list(models) or None
        )
        session.commit()
        click.echo(f"key {key.id} ({key.name}): {secret}")


@keys_cli.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key at once (as DELETE /v1/keys/KEY_ID does)."""
    h = app_handles()
    with h.sessions() as session:
        key = revoke(session, h.redis, key_id, actor=None)
        if key is None:
            raise click.ClickException(f"no key {key_id!r}")
        click.echo(f"key {key.id} ({key.name}) revoked at {key.revoked_at.isoformat()}")
