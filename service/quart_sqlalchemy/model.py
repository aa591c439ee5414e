"""``db.Model``: Flask-SQLAlchemy 3.1's declarative base, with ``__bind_key__`` and ``__tablename__`` autonaming.

Ported from ``flask_sqlalchemy.model`` (BSD-3-Clause, Pallets) unchanged in behaviour; only the legacy ``query``
and ``query_class`` attributes are gone: ``Model.query`` is a sync ``Query`` with no async form (use
``await db.session.execute(select(Model))``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
import sqlalchemy.orm as sa_orm

if TYPE_CHECKING:
    from .extension import SQLAlchemy


class Model:
    """The base class of :attr:`.SQLAlchemy.Model`.

    To customize ``db.Model``, subclass this and pass it as ``model_class`` to :class:`.SQLAlchemy`, or pass an
    already created declarative model class, or (SQLAlchemy 2.x style) a ``DeclarativeBase`` subclass.
    """

    __fsa__: ClassVar[SQLAlchemy]
    """The extension this model belongs to (the name Flask-SQLAlchemy uses)."""

    def __repr__(self) -> str:
        state = sa.inspect(self)
        assert state is not None

        if state.transient:
            pk = f"(transient {id(self)})"
        elif state.pending:
            pk = f"(pending {id(self)})"
        else:
            pk = ", ".join(map(str, state.identity))

        return f"<{type(self).__name__} {pk}>"


def _bind_metadata(cls: Any) -> None:
    """Give ``cls`` the metadata of its ``__bind_key__`` (unless it sets ``metadata`` or ``__table__`` itself)."""
    bind_key = getattr(cls, "__bind_key__", None)
    parent_metadata = getattr(cls, "metadata", None)
    metadata = cls.__fsa__._make_metadata(bind_key)

    if metadata is not parent_metadata:
        cls.metadata = metadata


class BindMetaMixin(type):
    """Metaclass mixin that sets a model's ``metadata`` based on its ``__bind_key__``.

    If the model sets ``metadata`` or ``__table__`` directly, ``__bind_key__`` is ignored. If the ``metadata`` is
    the same as the parent model, it will not be set directly on the child model.
    """

    __fsa__: SQLAlchemy
    metadata: sa.MetaData

    def __init__(cls, name: str, bases: tuple[type, ...], d: dict[str, Any], **kwargs: Any) -> None:
        if not ("metadata" in cls.__dict__ or "__table__" in cls.__dict__):
            _bind_metadata(cls)

        super().__init__(name, bases, d, **kwargs)


class BindMixin:
    """``DeclarativeBase`` mixin that sets a model's ``metadata`` based on ``__bind_key__``."""

    __fsa__: SQLAlchemy
    metadata: sa.MetaData

    @classmethod
    def __init_subclass__(cls: type[BindMixin], **kwargs: Any) -> None:
        if not ("metadata" in cls.__dict__ or "__table__" in cls.__dict__) and hasattr(cls, "__bind_key__"):
            _bind_metadata(cls)

        super().__init_subclass__(**kwargs)


def _table_or_none(cls: Any, *args: Any, **kwargs: Any) -> sa.Table | None:
    """Shared ``__table_cls__``: the table for the model, or ``None`` for single-table inheritance.

    If no primary key is found, that indicates single-table inheritance, so no table is created and
    ``__tablename__`` is unset.
    """
    schema = kwargs.get("schema")
    key = args[0] if schema is None else f"{schema}.{args[0]}"

    # A table of that name already exists: reflected tables can be applied to models by name.
    if key in cls.metadata.tables:
        return sa.Table(*args, **kwargs)

    # A primary key: a table for joined-table inheritance.
    for arg in args:
        if (isinstance(arg, sa.Column) and arg.primary_key) or isinstance(arg, sa.PrimaryKeyConstraint):
            return sa.Table(*args, **kwargs)

    # No base class defines a table: return one missing a primary key, so SQLAlchemy shows the right error.
    for base in cls.__mro__[1:-1]:
        if "__table__" in base.__dict__:
            break
    else:
        return sa.Table(*args, **kwargs)

    # Single-table inheritance: use the parent's table; __init__ unsets __table__ based on this.
    if "__tablename__" in cls.__dict__:
        del cls.__tablename__

    return None


def _drop_empty_table(cls: Any) -> None:
    # __table_cls__ has run. If no table was created, use the parent table.
    if "__tablename__" not in cls.__dict__ and "__table__" in cls.__dict__ and cls.__dict__["__table__"] is None:
        del cls.__table__


class NameMetaMixin(type):
    """Metaclass mixin that sets a model's ``__tablename__`` from its ``CamelCase`` class name, in ``snake_case``.

    A name is set for non-abstract models that do not define ``__tablename__``. A model without a primary key gets
    no name and no ``__table__``: single-table inheritance.
    """

    metadata: sa.MetaData
    __tablename__: str
    __table__: sa.Table

    def __init__(cls, name: str, bases: tuple[type, ...], d: dict[str, Any], **kwargs: Any) -> None:
        if should_set_tablename(cls):
            cls.__tablename__ = camel_to_snake_case(cls.__name__)

        super().__init__(name, bases, d, **kwargs)
        _drop_empty_table(cls)

    def __table_cls__(cls, *args: Any, **kwargs: Any) -> sa.Table | None:
        """Called by SQLAlchemy during mapper setup: the model's final table (``None``: single-table inheritance)."""
        return _table_or_none(cls, *args, **kwargs)


class NameMixin:
    """``DeclarativeBase`` mixin that sets a model's ``__tablename__`` from its class name, as
    :class:`NameMetaMixin` does."""

    metadata: sa.MetaData
    __tablename__: str
    __table__: sa.Table

    @classmethod
    def __init_subclass__(cls: type[NameMixin], **kwargs: Any) -> None:
        if should_set_tablename(cls):
            cls.__tablename__ = camel_to_snake_case(cls.__name__)

        super().__init_subclass__(**kwargs)
        _drop_empty_table(cls)

    @classmethod
    def __table_cls__(cls, *args: Any, **kwargs: Any) -> sa.Table | None:
        """Called by SQLAlchemy during mapper setup: the model's final table (``None``: single-table inheritance)."""
        return _table_or_none(cls, *args, **kwargs)


def should_set_tablename(cls: type) -> bool:
    """Whether ``__tablename__`` should be generated for a model.

    - If no class in the MRO sets a name, one should be generated.
    - If a declared attr is found, it should be used instead.
    - If a name is found, it should be used if the class is a mixin, otherwise one should be generated.
    - Abstract models should not have one generated.

    Later, ``__table_cls__`` decides whether the model looks like single or joined-table inheritance.
    """
    if (
        cls.__dict__.get("__abstract__", False)
        or (
            not issubclass(cls, (sa_orm.DeclarativeBase, sa_orm.DeclarativeBaseNoMeta))
            and not any(isinstance(b, sa_orm.DeclarativeMeta) for b in cls.__mro__[1:])
        )
        or any((b is sa_orm.DeclarativeBase or b is sa_orm.DeclarativeBaseNoMeta) for b in cls.__bases__)
    ):
        return False

    for base in cls.__mro__:
        if "__tablename__" not in base.__dict__:
            continue

        if isinstance(base.__dict__["__tablename__"], sa_orm.declared_attr):
            return False

        return not (
            base is cls
            or base.__dict__.get("__abstract__", False)
            or not (
                # SQLAlchemy 1.x style, or DeclarativeBase's metaclass
                isinstance(base, (sa_orm.DeclarativeMeta, sa_orm.decl_api.DeclarativeAttributeIntercept))
                or issubclass(base, sa_orm.DeclarativeBaseNoMeta)  # 2.x without a metaclass
            )
        )

    return True


def camel_to_snake_case(name: str) -> str:
    """Convert a ``CamelCase`` name to ``snake_case``."""
    name = re.sub(r"((?<=[a-z0-9])[A-Z]|(?!^)[A-Z](?=[a-z]))", r"_\1", name)
    return name.lower().lstrip("_")


class DefaultMeta(BindMetaMixin, NameMetaMixin, sa_orm.DeclarativeMeta):
    """Declarative metaclass with ``__bind_key__`` and ``__tablename__`` support."""


class DefaultMetaNoName(BindMetaMixin, sa_orm.DeclarativeMeta):
    """Declarative metaclass with ``__bind_key__`` support (``disable_autonaming=True``)."""
