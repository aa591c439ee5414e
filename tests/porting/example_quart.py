"""The worked example of docs/porting.md, after: the same app on Quart and the extension (shown verbatim)."""

from __future__ import annotations

from typing import Any

from quart import Quart, request
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, selectinload
from werkzeug.exceptions import NotFound

from service.quart_sqlalchemy import SQLAlchemy  # your copy of service/quart_sqlalchemy/


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Author(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    posts: Mapped[list[Post]] = db.relationship(back_populates="author", lazy="raise")


class Post(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    author_id: Mapped[int] = mapped_column(db.ForeignKey("author.id"))
    author: Mapped[Author] = db.relationship(back_populates="posts", lazy="raise")


def create_app(database_uri: str) -> Quart:
    app = Quart(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_uri  # postgresql+asyncpg://...
    db.init_app(app)

    @app.errorhandler(NotFound)
    async def not_found(error: NotFound) -> Any:
        return {"error": error.description}, 404

    @app.get("/posts")
    async def list_posts() -> Any:
        page = await db.paginate(db.select(Post).order_by(Post.id), max_per_page=20)  # ?page=&per_page=
        return {"titles": [post.title for post in page.items], "total": page.total, "next": page.next_num}

    @app.get("/posts/<int:post_id>")
    async def get_post(post_id: int) -> Any:
        post = await db.get_or_404(Post, post_id, description="no such post", options=[selectinload(Post.author)])
        return {"title": post.title, "author": post.author.name}  # loaded with the post

    @app.post("/posts")
    async def create_post() -> Any:
        data = await request.get_json()
        author = (await db.session.execute(db.select(Author).filter_by(name=data["author"]))).scalar_one_or_none()
        post = Post(title=data["title"], author=author or Author(name=data["author"]))
        db.session.add(post)
        await db.session.commit()
        return {"id": post.id, "title": post.title}, 201  # expire_on_commit=False: still loaded

    @app.delete("/posts/<int:post_id>")
    async def delete_post(post_id: int) -> Any:
        await db.session.delete(await db.get_or_404(Post, post_id, description="no such post"))
        await db.session.commit()
        return "", 204

    return app
