"""Async port of the Flask-SQLAlchemy patterns, with a sync Flask twin on the same models."""
