"""``db.Model`` and ``db.Table``, on Flask-SQLAlchemy and on ours (no database needed): the same table names
(autonaming, inheritance), the same metadata per ``__bind_key__`` / ``bind_key``, the same ``model_class`` forms."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as sa_orm
from sqlalchemy.orm import DeclarativeBase, DeclarativeBaseNoMeta, Mapped, mapped_column

from service.quart_sqlalchemy import Model
from tests.quart_sqlalchemy.twins import KINDS, make_app, make_db, same


def extension(kind: str, **options: Any) -> Any:
    app = make_app(kind)
    app.config.update(SQLALCHEMY_DATABASE_URI="postgresql://u@h/d", SQLALCHEMY_BINDS={"other": "postgresql://u@h/o"})
    return make_db(kind, app, **options)


def both(define: Any, options: Any = dict) -> Any:
    """``define(db)`` on each side's fresh extension (made with ``options()``); the results must agree."""
    return same({kind: define(extension(kind, **options())) for kind in KINDS})


def tables_of(db: Any) -> dict[Any, list[str]]:
    return {key: sorted(metadata.tables) for key, metadata in db.metadatas.items()}


def classic_models(db: Any) -> Any:
    """The 1.x-style declarations most Flask-SQLAlchemy apps have."""

    class UserAccount(db.Model):
        id = db.Column(db.Integer, primary_key=True)
        type = db.Column(db.String(20))
        __mapper_args__ = {"polymorphic_on": type, "polymorphic_identity": "user"}

    class AdminAccount(UserAccount):  # single-table inheritance: no table of its own, no name
        __mapper_args__ = {"polymorphic_identity": "admin"}

    class AuditedAccount(UserAccount):  # joined-table inheritance: its own table
        id = db.Column(db.ForeignKey(UserAccount.id), primary_key=True)
        __mapper_args__ = {"polymorphic_identity": "audited"}

    class HTTPRequestLog(db.Model):
        id = db.Column(db.Integer, primary_key=True)

    class Named(db.Model):
        __tablename__ = "explicit_name"
        id = db.Column(db.Integer, primary_key=True)

    class Timestamped(db.Model):
        __abstract__ = True
        created = db.Column(db.DateTime)

    class Event(Timestamped):
        __bind_key__ = "other"
        id = db.Column(db.Integer, primary_key=True)

    class EventDetail(Event):  # inherits the bind key
        id = db.Column(db.ForeignKey(Event.id), primary_key=True)

    db.Table("plain", db.Column("id", db.Integer, primary_key=True))
    db.Table("on_other", db.Column("id", db.Integer, primary_key=True), bind_key="other")
    db.Table("explicit_metadata", sa.MetaData(), db.Column("id", db.Integer, primary_key=True))

    return {
        "tables": tables_of(db),
        "names": {
            cls.__name__: cls.__table__.name
            for cls in (UserAccount, AdminAccount, AuditedAccount, HTTPRequestLog, Named, Event, EventDetail)
        },
        "admin_shares_table": AdminAccount.__table__ is UserAccount.__table__,
        "event_metadata": Event.metadata is db.metadatas["other"],
        "repr": repr(HTTPRequestLog()).split(" ")[0],
        "model_is_subclass": issubclass(db.Model, sa_orm.DeclarativeMeta) or hasattr(db.Model, "registry"),
    }


def test_classic_models_and_tables() -> None:
    result = both(classic_models)
    assert result["tables"] == {
        None: ["audited_account", "explicit_name", "http_request_log", "plain", "user_account"],
        "other": ["event", "event_detail", "on_other"],
    }
    assert result["names"]["AdminAccount"] == "user_account"
    assert result["admin_shares_table"] is True
    assert result["event_metadata"] is True
    assert result["repr"] == "<HTTPRequestLog"


def test_disable_autonaming() -> None:
    def define(db: Any) -> Any:
        class Thing(db.Model):
            __tablename__ = "things"
            id = db.Column(db.Integer, primary_key=True)

        with pytest.raises(sa.exc.InvalidRequestError):

            class Nameless(db.Model):
                id = db.Column(db.Integer, primary_key=True)

        return tables_of(db)

    assert both(define, lambda: {"disable_autonaming": True}) == {None: ["things"], "other": []}


@pytest.mark.parametrize("base", [DeclarativeBase, DeclarativeBaseNoMeta])
@pytest.mark.parametrize("disable_autonaming", [False, True])
def test_a_sqlalchemy_2_declarative_base_as_model_class(base: type[Any], disable_autonaming: bool) -> None:
    def define(db: Any) -> Any:
        class Author(db.Model):
            if disable_autonaming:
                __tablename__ = "authors"
            id: Mapped[int] = mapped_column(primary_key=True)

        class OtherThing(db.Model):
            __bind_key__ = "other"
            if disable_autonaming:
                __tablename__ = "other_things"
            id: Mapped[int] = mapped_column(primary_key=True)

        return (
            tables_of(db),
            Author.metadata is db.metadata,
            OtherThing.metadata is db.metadatas["other"],
            db.metadata.naming_convention.get("pk"),
        )

    def options() -> dict[str, Any]:
        class Base(base):  # type: ignore[misc,valid-type]
            metadata = sa.MetaData(naming_convention={"pk": "pk_%(table_name)s"})

        return {"model_class": Base, "disable_autonaming": disable_autonaming}

    names = {None: ["authors"], "other": ["other_things"]} if disable_autonaming else None
    expected_tables = names or {None: ["author"], "other": ["other_thing"]}
    assert both(define, options) == (
        expected_tables,
        True,
        True,
        "pk_%(table_name)s",
    )


def test_the_metadata_argument_is_ignored_with_a_2x_base() -> None:
    class Base(DeclarativeBase):
        pass

    def define(db: Any) -> Any:
        return db.metadata is Base.metadata

    def check(kind: str) -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            db = extension(kind, model_class=Base, metadata=sa.MetaData())
        return define(db), [type(w.message).__name__ for w in caught]

    assert same({kind: check(kind) for kind in KINDS}) == (True, ["DeprecationWarning"])


def test_two_declarative_bases_are_refused() -> None:
    class One(DeclarativeBase):
        pass

    class Two(DeclarativeBaseNoMeta):
        pass

    class Both(One, Two):  # type: ignore[misc]
        __abstract__ = True

    def check(kind: str) -> str:
        with pytest.raises(ValueError, match="Only one declarative base") as raised:
            extension(kind, model_class=Both)
        return str(raised.value).split(" Got:")[0]

    assert same({kind: check(kind) for kind in KINDS}) == "Only one declarative base can be passed to SQLAlchemy."


def test_a_model_class_subclass_and_a_given_metadata() -> None:
    metadata_by_kind = {kind: sa.MetaData(naming_convention={"ix": "ix_%(column_0_label)s"}) for kind in KINDS}

    def check(kind: str) -> Any:
        from flask_sqlalchemy.model import Model as FlaskModel

        class Base(FlaskModel if kind == "flask" else Model):  # type: ignore[misc]
            def describe(self) -> str:
                return f"a {type(self).__name__}"

        db = extension(kind, model_class=Base, metadata=metadata_by_kind[kind])

        class Thing(db.Model):
            id = db.Column(db.Integer, primary_key=True)

        return Thing().describe(), db.metadata is metadata_by_kind[kind], Thing.metadata is db.metadata

    assert same({kind: check(kind) for kind in KINDS}) == ("a Thing", True, True)


def test_a_declarative_class_as_model_class() -> None:
    def check(kind: str) -> Any:
        base = sa_orm.declarative_base(metadata=sa.MetaData())
        db = extension(kind, model_class=base)

        class Thing(db.Model):
            __tablename__ = "things"  # a plain declarative class names nothing
            id = db.Column(db.Integer, primary_key=True)

        return db.Model is base, db.metadata is base.metadata, tables_of(db)

    assert same({kind: check(kind) for kind in KINDS}) == (True, True, {None: ["things"], "other": []})
