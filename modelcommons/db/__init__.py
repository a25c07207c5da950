"""The metadata database: tables (``schema``), the engine and its sessions
(``database``), small SQL helpers (``sqlutil``) and the Alembic ``migrations``.

May import: the foundation modules only (``errors``, ``settings``, ``clock``).
"""
