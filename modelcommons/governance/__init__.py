"""Governance: who may see and change what, and what a release must carry.

The one enforcement point for content (``access``, with its rules in ``content``),
gated access (``gating``), staged release plans (``releases``), model and dataset cards
(``cards``), licences and their obligations along lineage (``licenses``,
``licence_checks``, ``lineage``), and the repository lifecycle with its access rules
(``lifecycle``), and the scan policy that quarantines unsafe files (``quarantine``).

May import: ``storage``, ``accounts``, ``audit``, ``db``, ``scanning`` (scan results
and name profiles, for the quarantine), ``validation`` and the
foundation modules (``errors``, ``settings``, ``clock``, ``sizes``; ``hub`` for type
hints only). Never ``search``, ``jobs``, the HTTP layers or ``cli``.
"""
