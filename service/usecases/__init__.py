"""Use cases: one function per operation; each owns its transaction (commit on success, rollback otherwise).

``_async`` is the source, ``_sync`` is generated for the Flask twin (see ``service.repositories``).
"""
