"""Make users.name NOT NULL without a long exclusive lock.

A NOT VALID check is added instantly; it is validated in a transaction of its own under a SHARE UPDATE EXCLUSIVE
lock (reads and writes go on); PostgreSQL 12+ then uses it to skip the full-table scan of SET NOT NULL.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Rules this revision breaks on purpose; tests/migrations lints every revision with these excluded.
SQUAWK_ALLOW = {
    "ban-drop-constraint": "the helper CHECK is redundant once the column is NOT NULL; no guarantee is lost",
}


def upgrade() -> None:
    # Re-runnable: a run that failed after the autocommit block left the NOT VALID check behind.
    op.execute("ALTER TABLE users DROP CONSTRAINT IF EXISTS ck_users_name_not_null")
    op.execute("ALTER TABLE users ADD CONSTRAINT ck_users_name_not_null CHECK (name IS NOT NULL) NOT VALID")
    with op.get_context().autocommit_block():
        op.execute("ALTER TABLE users VALIDATE CONSTRAINT ck_users_name_not_null")
    op.alter_column("users", "name", existing_type=sa.String(255), nullable=False)
    op.drop_constraint(op.f("ck_users_name_not_null"), "users", type_="check")


def downgrade() -> None:
    op.alter_column("users", "name", existing_type=sa.String(255), nullable=True)
