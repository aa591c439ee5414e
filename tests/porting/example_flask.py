"""The worked example of docs/porting.md, before: a small Flask-SQLAlchemy app (shown verbatim in the guide)."""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.exceptions import NotFound


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Author(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    posts: Mapped[list[Post]] = db.relationship(back_populates="author")


class Post(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    author_id: Mapped[int] = mapped_column(db.ForeignKey("author.id"))
    author: Mapped[Author] = db.relationship(back_populates="posts")


def create_app(database_uri: str) -> Flask:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_uri
    db.init_app(app)

    @app.errorhandler(NotFound)
    def not_found(error: NotFound) -> Any:
        return {"error": error.description}, 404

    @app.get("/posts")
    def list_posts() -> Any:
        page = db.paginate(db.select(Post).order_by(Post.id), max_per_page=20)  # ?page=&per_page=
        return {"titles": [post.title for post in page.items], "total": page.total, "next": page.next_num}

    @app.get("/posts/<int:post_id>")
    def get_post(post_id: int) -> Any:
        post = db.get_or_404(Post, post_id, description="no such post")
        return {"title": post.title, "author": post.author.name}  # a lazy load

    @app.post("/posts")
    def create_post() -> Any:
        data = request.get_json()
        author = db.session.execute(db.select(Author).filter_by(name=data["author"])).scalar_one_or_none()
        post = Post(title=data["title"], author=author or Author(name=data["author"]))
        db.session.add(post)
        db.session.commit()
        return {"id": post.id, "title": post.title}, 201  # expired by the commit: reloaded here

    @app.delete("/posts/<int:post_id>")
    def delete_post(post_id: int) -> Any:
        db.session.delete(db.get_or_404(Post, post_id, description="no such post"))
        db.session.commit()
        return "", 204

    return app
