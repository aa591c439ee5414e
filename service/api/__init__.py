"""The HTTP contract, framework-neutral: the route table, the handlers, JSON and problem+json rules.

``service.quart_app`` and ``service.flask_app`` only adapt this to their framework: each registers every route of
:data:`service.api.routes.ROUTES` with the handler of the same name (async handlers for Quart, the generated
sync ones for Flask), so the two apps cannot drift apart.
"""
