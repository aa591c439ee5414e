"""Strategy 1, a non-locking column addition: users.role with a server default.

Since PostgreSQL 11 a constant default is stored in the catalog, so ADD COLUMN ... DEFAULT ... NOT NULL is a
metadata-only change: no table rewrite, the ACCESS EXCLUSIVE lock is held for milliseconds.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("role", sa.String(50), server_default="member", nullable=False))


def downgrade() -> None:
    op.drop_column("users", "role")
