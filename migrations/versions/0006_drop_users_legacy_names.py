"""Strategy 3, phase 2 of the three-phase removal: drop users.first_name and users.last_name.

Phase 1 (deployed before this revision runs) was code that neither reads nor writes them (0003 made them
nullable for that). Phase 3 is the clean-up once no rollback past this point is wanted; see the README.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQUAWK_ALLOW = {
    "ban-drop-column": "phase 2 of the three-phase removal: no deployed code reads or writes these columns",
}


def upgrade() -> None:
    op.drop_column("users", "last_name")
    op.drop_column("users", "first_name")


def downgrade() -> None:
    # The columns come back nullable; 0004's downgrade refills them from name.
    op.add_column("users", sa.Column("first_name", sa.String(255), nullable=True))
    op.add_column("users", sa.Column("last_name", sa.String(255), nullable=True))
