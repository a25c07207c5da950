"""The HTTP plumbing under the API and the pages: routing on the raw path and the
request context (``routing``), responses (``responses``), caps on request heads
(``limits``), the request log (``request_log``) and the OpenAPI description
(``openapi``).

May import: ``accounts`` (who is calling), ``validation`` and the foundation modules
(``hub`` for type hints only). Never ``api``, ``web`` or the domains' decisions.
"""
