"""Limits on password sign-ins: failures counted per account name and per client
address, in the database, so that every hub process sharing it sees the same counts.

Each (kind, key) has at most one row in ``login_attempts``: the failures counted in the
current window and when that window began (at the first failure after the previous one
ended). An attempt takes a slot in its counters *before* the password is checked, with
one upsert per counter that succeeds only while the window has room or has ended (which
starts a new window). So concurrent guesses cannot overshoot a limit, and a refused
attempt changes nothing: a lock ends with its window however long someone keeps trying,
and nobody can keep a victim locked out by knocking. A refused attempt never checks the
password, so a locked account does not tell whether a guess was right. A successful
sign-in deletes the account's row and gives its slot back to the address, where only
failures count (signing in to one's own account must not clear an address's guesses).

The address is the ASGI client's, which follows ``X-Forwarded-For`` only from the
``trusted_proxies`` of the settings; an IPv6 client counts as its /64 network, the
block one subscriber usually holds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import math
from typing import cast

from sqlalchemy import Table, and_, case, delete, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..db.schema import LoginAttempt
from ..settings import Settings

ACCOUNT = "account"
ADDRESS = "address"
#: Longest key kept; account names are at most 96 characters, so a longer name (which
#: no account can have) is counted against its address only.
MAX_KEY = 100

_T = cast(Table, LoginAttempt.__table__)


@dataclasses.dataclass(frozen=True)
class Slot:
    """One attempt, counted against one account name or address."""

    kind: str
    key: str
    #: Failures counted in this window, this attempt included.
    failures: int
    window_start: dt.datetime


class Throttled(Exception):
    """Sign-ins for this account or from this address are refused for ``retry_after`` s."""

    def __init__(self, kind: str, retry_after: int) -> None:
        self.kind = kind
        self.retry_after = retry_after
        super().__init__(self.message)

    @property
    def message(self) -> str:
        wait = _duration(self.retry_after)
        if self.kind == ACCOUNT:
            return f"Too many failed sign-ins for this account. Try again in {wait}."
        return f"Too many failed sign-ins from your network address. Try again in {wait}."


def _duration(seconds: int) -> str:
    count, unit = (seconds, "second") if seconds < 60 else (math.ceil(seconds / 60), "minute")
    return f"{count} {unit}{'' if count == 1 else 's'}"


def account_key(name: str) -> str:
    """What an account name is counted as: its lower case (see :meth:`LoginThrottle.keys`)."""
    return name.lower()


def address_key(host: str | None) -> str:
    """What an address is counted as: itself, or its /64 network for IPv6."""
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:MAX_KEY]  # not an IP (a unix socket, say): as it is
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class LoginThrottle:
    def __init__(self, *, per_account: int, per_address: int, window_seconds: int) -> None:
        if per_account < 0 or per_address < 0:
            raise ValueError("sign-in failure limits must be 0 (off) or more")
        if window_seconds <= 0:
            raise ValueError("login_window_seconds must be positive")
        self.limits = {ACCOUNT: per_account, ADDRESS: per_address}
        self.window = dt.timedelta(seconds=window_seconds)

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginThrottle:
        return cls(
            per_account=settings.login_max_failures_per_account,
            per_address=settings.login_max_failures_per_address,
            window_seconds=settings.login_window_seconds,
        )

    def keys(self, account: str, address: str) -> list[tuple[str, str]]:
        """The counters an attempt counts against, in the order their rows are locked
        (always account first, so two attempts never wait on each other in a cycle).

        An account name counts in lower case: names are one account whatever their
        case (``Alice`` signs in as ``alice``), so they are one counter too."""
        out = []
        if self.limits[ACCOUNT] and account and len(account) <= MAX_KEY:
            out.append((ACCOUNT, account_key(account)))
        if self.limits[ADDRESS]:
            out.append((ADDRESS, address))
        return out

    def check(self, session: Session, now: dt.datetime, keys: list[tuple[str, str]]) -> None:
        """Raise :class:`Throttled` if a counter is full. Only reads: refusing a flood of
        attempts writes nothing. :meth:`reserve` decides for sure."""
        if not keys:
            return
        rows = session.execute(
            select(_T.c.kind, _T.c.failures, _T.c.window_start).where(
                or_(*(and_(_T.c.kind == kind, _T.c.key == key) for kind, key in keys))
            )
        ).all()
        locked = [
            (self._retry_after(start, now), kind)
            for kind, failures, start in rows
            if failures >= self.limits[kind] and start + self.window > now
        ]
        if locked:
            retry_after, kind = max(locked)
            raise Throttled(kind, retry_after)

    def reserve(
        self, session: Session, now: dt.datetime, keys: list[tuple[str, str]]
    ) -> list[Slot]:
        """Count this attempt as a failure against every key, or raise :class:`Throttled`
        (the caller's transaction then rolls back, so a refusal counts nowhere)."""
        slots = []
        for kind, key in keys:
            slot = self._take(session, now, kind, key)
            if slot is None:
                start = session.scalar(
                    select(_T.c.window_start).where(_T.c.kind == kind, _T.c.key == key)
                )
                raise Throttled(kind, self._retry_after(start or now, now))
            slots.append(slot)
        if any(slot.failures == 1 for slot in slots):  # a new window: clear out ended ones
            self.purge(session, now)
        return slots

    def _take(self, session: Session, now: dt.datetime, kind: str, key: str) -> Slot | None:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        ended = _T.c.window_start <= now - self.window
        stmt = insert(_T).values(kind=kind, key=key, failures=1, window_start=now)
        upsert = stmt.on_conflict_do_update(
            index_elements=[_T.c.kind, _T.c.key],
            set_={
                "failures": case((ended, 1), else_=_T.c.failures + 1),
                "window_start": case((ended, stmt.excluded.window_start), else_=_T.c.window_start),
            },
            # A full counter in a running window: no row is updated or returned.
            where=or_(ended, _T.c.failures < self.limits[kind]),
        ).returning(_T.c.failures, _T.c.window_start)
        row = session.execute(upsert).one_or_none()
        return None if row is None else Slot(kind, key, row.failures, row.window_start)

    def succeeded(self, session: Session, slots: list[Slot]) -> None:
        """The password was right: clear the account's count and give the address its
        slot back (unless that window has already ended and been replaced)."""
        for slot in slots:
            where = and_(_T.c.kind == slot.kind, _T.c.key == slot.key)
            if slot.kind == ACCOUNT:
                session.execute(delete(_T).where(where))
            else:
                session.execute(
                    update(_T)
                    .where(where, _T.c.window_start == slot.window_start, _T.c.failures > 0)
                    .values(failures=_T.c.failures - 1)
                )

    def locks_begun(self, slots: list[Slot]) -> list[Slot]:
        """The failed attempt's slots that filled their counter: each starts a lock."""
        return [slot for slot in slots if slot.failures == self.limits[slot.kind]]

    def until(self, slot: Slot) -> dt.datetime:
        return slot.window_start + self.window

    def purge(self, session: Session, now: dt.datetime) -> None:
        """Delete rows of ended windows. Rows another transaction holds are skipped
        (PostgreSQL), so this never waits on, or deadlocks with, a sign-in."""
        ended = (
            select(_T.c.kind, _T.c.key)
            .where(_T.c.window_start <= now - self.window)
            .with_for_update(skip_locked=True)
        )
        session.execute(delete(_T).where(tuple_(_T.c.kind, _T.c.key).in_(ended)))

    def clear(self, session: Session, kind: str, key: str) -> bool:
        """Forget one counter (an administrator lifting a lock); whether there was one."""
        key = account_key(key) if kind == ACCOUNT else key
        result = session.execute(delete(_T).where(_T.c.kind == kind, _T.c.key == key))
        return bool(getattr(result, "rowcount", 0))

    def _retry_after(self, window_start: dt.datetime, now: dt.datetime) -> int:
        return max(1, math.ceil((window_start + self.window - now).total_seconds()))
