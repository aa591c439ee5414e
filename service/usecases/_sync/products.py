# Generated from the _async source by scripts/generate_sync.py (make generate). Do not edit.
"""Product use cases: updates and reservations under optimistic locking with retry.

``repo`` defaults to the real repository on ``session``; unit tests pass a fake one.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.db.mixins import utcnow
from service.db.models import Product
from service.errors import Conflict, NotFound, PreconditionFailed
from service.repositories._sync.products import ProductRepository
from service.retry import RetryObserver, RetryPolicy
from service.schemas import ProductCreate, ProductUpdate
from service.usecases._sync.transaction import run_with_retry


def create_product(session: Session, data: ProductCreate, repo: ProductRepository | None = None) -> Product:
    product = (repo if repo is not None else ProductRepository(session)).save(Product(name=data.name, stock=data.stock))
    session.commit()
    return product


def get_product(
    session: Session, product_id: int, repo: ProductRepository | None = None, *, for_update: bool = False
) -> Product:
    product = (repo if repo is not None else ProductRepository(session)).get_by_id(product_id, for_update=for_update)
    if product is None:
        raise NotFound("product not found")
    return product


def update_product(
    session: Session,
    product_id: int,
    data: ProductUpdate,
    if_match: int | None,
    policy: RetryPolicy,
    observer: RetryObserver | None = None,
    repo: ProductRepository | None = None,
) -> Product:
    """Apply a PATCH; with ``if_match`` only while the product is still at that version (else 412)."""

    products = repo if repo is not None else ProductRepository(session)

    def work(lock: bool) -> Product:
        product = get_product(session, product_id, products, for_update=lock)
        if if_match is not None and product.version_id != if_match:
            raise PreconditionFailed(f"the product is at version {product.version_id}, not {if_match}")
        for field, value in data.changes().items():
            setattr(product, field, value)
        product.updated_at = utcnow()
        return products.save(product)

    return run_with_retry(session, work, policy, observer)


def reserve_stock(
    session: Session,
    product_id: int,
    quantity: int,
    policy: RetryPolicy,
    observer: RetryObserver | None = None,
    repo: ProductRepository | None = None,
) -> Product:
    """Take ``quantity`` from stock; 409 ``"insufficient stock"`` changes nothing."""

    products = repo if repo is not None else ProductRepository(session)

    def work(lock: bool) -> Product:
        product = get_product(session, product_id, products, for_update=lock)
        if product.stock < quantity:
            raise Conflict("insufficient stock")
        product.stock -= quantity
        return products.save(product)

    return run_with_retry(session, work, policy, observer)
