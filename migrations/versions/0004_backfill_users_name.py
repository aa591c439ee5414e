"""Strategy 2, a data migration in its own revision: fill users.name from first_name/last_name.

It only touches rows whose name is still NULL, so it is safe to re-run and leaves rows written by new code alone.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE users SET name = btrim(concat_ws(' ', nullif(first_name, ''), nullif(last_name, ''))) "
        "WHERE name IS NULL"
    )


def downgrade() -> None:
    # Split the name back: the first word is the first name, the rest the last name.
    op.execute(
        "UPDATE users SET first_name = split_part(name, ' ', 1), "
        "last_name = btrim(substr(name, length(split_part(name, ' ', 1)) + 1)) "
        "WHERE first_name IS NULL OR last_name IS NULL"
    )
