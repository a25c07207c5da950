"""The web UI: sessions and CSRF (``sessions``, ``forms``), templates (``templating``,
``views``), markdown sanitising (``markdown``), static files (``static``), file
previews and diffs (``previews``), the page handlers (``pages``) and their route table
(``routes``).

May import: what ``api`` may, and ``api`` itself (its helpers and shared actions).
Never ``cli``.
"""
