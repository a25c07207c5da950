"""full-text search

Revision ID: 0002
Revises: 0001

The ``search_documents`` table on both databases, then the engine: an FTS5
contentless table on SQLite; a generated tsvector column with a GIN index and a
pg_trgm index on PostgreSQL. Existing repositories are indexed by
``Hub.startup`` (their READMEs live in the blob store, out of a migration's
reach), as are any repositories that lack a document.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: ASCII punctuation, spaces and controls: the word separators on PostgreSQL
#: (written as escapes so that it does not depend on the database's locale).
_SEPARATORS = r"[\x01-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]+"


def _words(column: str) -> str:
    return f"to_tsvector('simple', regexp_replace({column}, '{_SEPARATORS}', ' ', 'g'))"


def upgrade() -> None:
    op.create_table(
        "search_documents",
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.Column("facets", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["repo_id"], ["repos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("repo_id"),
    )
    op.create_index("ix_repos_likes", "repos", ["likes"])
    op.create_index("ix_repos_created", "repos", ["created_at"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5("
            "name, tags, body, grams, meta, content='', "
            "tokenize='unicode61 remove_diacritics 2')"
        )
    elif dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "ALTER TABLE search_documents ADD COLUMN document tsvector GENERATED ALWAYS AS ("
            f"setweight({_words('name')}, 'A') || "
            f"setweight({_words('tags')}, 'B') || "
            f"setweight({_words('body')}, 'C')) STORED"
        )
        op.execute(
            "ALTER TABLE search_documents ADD COLUMN filters tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple', meta)) STORED"
        )
        for column in ("document", "filters"):
            op.execute(
                f"CREATE INDEX ix_search_documents_{column} ON search_documents "
                f"USING gin ({column})"
            )
        op.execute(
            "CREATE INDEX ix_search_documents_name_trgm ON search_documents "
            "USING gin (name gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.drop_index("ix_repos_created", table_name="repos")
    op.drop_index("ix_repos_likes", table_name="repos")
    op.drop_table("search_documents")
