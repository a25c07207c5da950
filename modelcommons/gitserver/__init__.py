"""git over HTTP: ``git clone``, ``fetch``, ``pull`` and ``push`` against the hub.

The smart HTTP protocol, version 2 and version 0 for fetching (``upload``, with the
refs a caller may see in ``advertise``, the have/want exchange in ``negotiate`` and
packs made from stored objects in ``packout``) and version 0 for pushing
(``receive``: packs read and checked in ``packin`` and ``checks``, refs moved in one
transaction in ``pushes``; pushes that open pull requests go to ``pull_requests``).
pkt-line framing is in ``pktline``. Packs are read and written with dulwich
(see ``packin``); file bytes come from and go to the blob store, trees and commits
from and to the ``git_objects`` table, with git's own ids.

May import: ``community`` (pull requests), ``storage``, ``accounts``, ``db``,
``validation`` and the foundation modules (``errors``, ``settings``, ``clock``,
``sizes``; ``hub`` for type hints only).
Never ``governance``, ``search``, ``jobs``, the HTTP layers or ``cli``: the routes in
``api.git`` decide who may see and change what (with ``governance.access``, as every
route does) and hand this package the refs the caller may see; the rest of the hub
hears of a push exactly as of a commit, through the commit engine.
"""
