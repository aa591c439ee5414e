# Generated from the _async source by scripts/generate_sync.py (make generate). Do not edit.
"""Products, whose updates are guarded by ``version_id``."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.db.models import Product


class ProductRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_by_id(self, product_id: int, *, for_update: bool = False) -> Product | None:
        """The product, read ``FOR UPDATE`` when asked (a retry after a lost version race)."""
        return self.session.get(Product, product_id, with_for_update=for_update or None)

    def save(self, product: Product) -> Product:
        """Add and flush; an UPDATE that lost the version race raises ``StaleDataError`` here."""
        self.session.add(product)
        self.session.flush()
        return product
