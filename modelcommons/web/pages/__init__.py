"""The page handlers, one module per area: the home page, search, a repository's
pages, managing a repository, gating, release plans, sign-in, account settings and
tokens. Their routes are in :mod:`modelcommons.web.routes`."""
