"""Accounts: users, organisations and memberships (``users``), passwords
(``passwords``), tokens and the principals they stand for (``tokens``,
``principals``), who may read, write and administer what (``roles``), password and
token changes with their consequences (``credentials``), and limits on failed
sign-ins (``login_throttle``).

The names below are the package's surface, re-exported from its modules.

May import: ``audit``, ``db``, ``validation`` and the foundation modules (``hub`` for
type hints only). Never ``storage``, ``governance``, ``search``, the HTTP layers or
``cli``.
"""

from .passwords import MAX_PASSWORD, MIN_PASSWORD, check_password, hash_password, verify_password
from .principals import PERMISSIONS, Principal, TokenScope
from .tokens import (
    INVALID_CREDENTIALS,
    MAX_TOKEN_DAYS,
    TOKEN_PREFIX,
    authenticate,
    browser_principal,
    create_token,
    hash_token,
    list_tokens,
    principal_for_credential,
    revoke_token,
    token_expiry,
    token_state,
    touch_token,
)
from .users import (
    ORG_ROLES,
    add_member,
    check_email,
    create_org,
    create_user,
    find_account,
    get_account,
    org_fullnames,
    org_roles,
    set_default_visibility,
    set_fullname,
    set_password,
)

__all__ = [
    "INVALID_CREDENTIALS",
    "MAX_PASSWORD",
    "MAX_TOKEN_DAYS",
    "MIN_PASSWORD",
    "ORG_ROLES",
    "PERMISSIONS",
    "TOKEN_PREFIX",
    "Principal",
    "TokenScope",
    "add_member",
    "authenticate",
    "browser_principal",
    "check_email",
    "check_password",
    "create_org",
    "create_token",
    "create_user",
    "find_account",
    "get_account",
    "hash_password",
    "hash_token",
    "list_tokens",
    "org_fullnames",
    "org_roles",
    "principal_for_credential",
    "revoke_token",
    "set_default_visibility",
    "set_fullname",
    "set_password",
    "token_expiry",
    "token_state",
    "touch_token",
    "verify_password",
]
