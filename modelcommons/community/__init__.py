"""Discussions and pull requests: people improving each other's repositories.

``discussions`` holds the conversation (numbers shared by discussions and pull
requests, taken race-free per repository; comments, edits, hiding, titles,
statuses); ``pulls`` holds what makes a pull request: its ref ``refs/pr/N``, the
commits added to it (through the API or a git push), its merge base, conflicts,
diff and the merge commit into its target branch.

Who may do what is decided by the callers (the routes, with ``accounts.roles`` and
``governance.access``); this package takes the answer as ``moderator`` (may act on
others' comments and discussions).

May import: ``storage``, ``accounts``, ``audit``, ``db``, ``validation`` and the
foundation modules (``hub`` for type hints only).
"""

from .discussions import (
    DiscussionsDisabled,
    add_comment,
    change_status,
    discussions_disabled,
    edit_comment,
    find,
    hide_comment,
    list_discussions,
    open_discussion,
    rename,
    set_discussions_disabled,
)

__all__ = [
    "DiscussionsDisabled",
    "add_comment",
    "change_status",
    "discussions_disabled",
    "edit_comment",
    "find",
    "hide_comment",
    "list_discussions",
    "open_discussion",
    "rename",
    "set_discussions_disabled",
]
