"""Repositories: statements and their execution, one class per aggregate. They flush; use cases commit.

``_async`` is the source; ``_sync`` is generated from it by ``scripts/generate_sync.py`` (``make generate``) for the
Flask twin, and CI fails when the generated side is stale.
"""
