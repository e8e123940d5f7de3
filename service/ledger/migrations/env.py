"""Alembic environment: runs the migrations on the connection the caller passes in.

:func:`service.ledger.database.upgrade` builds the configuration in code and puts an open
connection, already inside a transaction, in ``config.attributes["connection"]``.
"""

from alembic import context

from service.ledger.schema import Base

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=Base.metadata,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
