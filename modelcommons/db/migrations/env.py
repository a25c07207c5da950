"""Alembic environment: runs on the connection the Database hands it."""

from alembic import context
from sqlalchemy import create_engine

from modelcommons.db.schema import Base

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # `alembic` on the command line, for authoring migrations
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
