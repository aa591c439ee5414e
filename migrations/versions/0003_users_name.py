"""Schema half of the name change: add users.name and let new code stop writing first_name/last_name.

The backfill is the next revision (strategy 2: data migrations apart from schema changes), so this one stays a
pair of catalog-only statements that hold their lock for milliseconds.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQUAWK_ALLOW = {
    "ban-drop-not-null": "phase 1 of the legacy columns' removal: code that stops writing them must be able to insert",
}


def upgrade() -> None:
    op.add_column("users", sa.Column("name", sa.String(255), nullable=True))
    # Phase 1 of the legacy columns' removal: code that no longer writes them must still be able to insert.
    op.alter_column("users", "first_name", existing_type=sa.String(255), nullable=True)
    op.alter_column("users", "last_name", existing_type=sa.String(255), nullable=True)


def downgrade() -> None:
    # Rows written after the upgrade have no legacy names: give them one before restoring NOT NULL.
    op.execute("UPDATE users SET first_name = coalesce(first_name, ''), last_name = coalesce(last_name, '')")
    op.alter_column("users", "last_name", existing_type=sa.String(255), nullable=False)
    op.alter_column("users", "first_name", existing_type=sa.String(255), nullable=False)
    op.drop_column("users", "name")
