"""The hub's clock: injectable, so that release dates and sign-in windows can be
tested without waiting. Naive UTC throughout, like the database."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from pathlib import Path
from typing import Protocol

from .settings import Settings


def utcnow() -> dt.datetime:
    """Now, in UTC, without a time zone: how every time is stored."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, naive UTC."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return utcnow()


@dataclasses.dataclass
class FakeClock:
    """A clock tests set by hand."""

    current: dt.datetime

    def now(self) -> dt.datetime:
        return self.current


@dataclasses.dataclass
class OffsetFileClock:
    """The system clock moved by the seconds written in ``path`` (none while the file is
    missing or empty), read on every call: how tests move the clock of a hub running in
    another process (the ``test_clock_file`` setting). Never for production use."""

    path: Path

    def now(self) -> dt.datetime:
        try:
            offset = float(self.path.read_text().strip() or 0)
        except FileNotFoundError:
            offset = 0.0
        return utcnow() + dt.timedelta(seconds=offset)


def clock_for(settings: Settings) -> Clock:
    """The system clock, or the offset-file clock when ``test_clock_file`` is set."""
    if not settings.test_clock_file:
        return SystemClock()
    logging.getLogger("modelcommons").warning(
        "The clock follows %s (test_clock_file): for tests only.", settings.test_clock_file
    )
    return OffsetFileClock(Path(settings.test_clock_file))
