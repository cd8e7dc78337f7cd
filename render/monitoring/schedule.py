"""How long K3s may go between two etcd snapshots: the longest gap between consecutive firings
of a cron schedule, as K3s reads it (github.com/robfig/cron/v3's standard parser, the same
grammar settings/backups.py checks). EtcdSnapshotTooOld alerts at twice that gap."""

from __future__ import annotations

import datetime as dt

from upstream.kubernetes import parse_go_duration

_DAY = 86400
# The longest gap each descriptor allows: a month is at most 31 days, a year 366.
_DESCRIPTORS = {"@hourly": 3600, "@daily": _DAY, "@midnight": _DAY, "@weekly": 7 * _DAY, "@monthly": 31 * _DAY, "@yearly": 366 * _DAY, "@annually": 366 * _DAY}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# Eight years from a fixed start: long enough to see two 29ths of February, and fixed so the
# answer (and so the rendered rule) never depends on today's date.
_START, _WINDOW_DAYS = dt.date(2025, 1, 1), 8 * 366


def _number(text: str, low: int, names: tuple[str, ...]) -> int:
    return int(text) if text.isdigit() else names.index(text.lower()) + low


def _field(text: str, low: int, high: int, names: tuple[str, ...] = ()) -> tuple[frozenset[int], bool]:
    """The values a field allows, and robfig's "star" bit: set for `*` or `?` without a step,
    which makes the day-of-month/day-of-week rule an AND instead of an OR (cron/v3 parser.go
    getRange, spec.go dayMatches)."""
    values: set[int] = set()
    star = False
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span in ("*", "?"):
            first, last = low, high
            star = star or step == 1
        else:
            a, dash, b = span.partition("-")
            first = _number(a, low, names)
            last = _number(b, low, names) if dash else (high if step_text else first)
        values.update(range(first, last + 1, step))
    return frozenset(values), star


def max_gap_seconds(schedule: str) -> int:
    """The longest time between two consecutive firings of `schedule` (seconds)."""
    if schedule in _DESCRIPTORS:
        return _DESCRIPTORS[schedule]
    if schedule.startswith("@every "):
        return max(1, int(parse_go_duration(schedule.removeprefix("@every "))))
    minute, hour, dom, month, dow = schedule.split(" ")
    minutes, _ = _field(minute, 0, 59)
    hours, _ = _field(hour, 0, 23)
    doms, dom_star = _field(dom, 1, 31)
    months, _ = _field(month, 1, 12, _MONTHS)
    dows, dow_star = _field(dow, 0, 6, _DAYS)
    times = sorted(h * 3600 + m * 60 for h in hours for m in minutes)
    gap = max((b - a for a, b in zip(times, times[1:], strict=False)), default=0)
    previous: int | None = None  # seconds since _START of the day's last firing
    for offset in range(_WINDOW_DAYS):
        day = _START + dt.timedelta(days=offset)
        dom_ok, dow_ok = day.day in doms, (day.isoweekday() % 7) in dows
        if day.month not in months or not ((dom_ok and dow_ok) if dom_star or dow_star else (dom_ok or dow_ok)):
            continue
        if previous is not None:
            gap = max(gap, offset * _DAY + times[0] - previous)
        previous = offset * _DAY + times[-1]
    return gap or _WINDOW_DAYS * _DAY


def humanize(seconds: int) -> str:
    """`43200` -> `12h`, `90` -> `1m30s`: the way the runbooks and Prometheus write durations."""
    out, rest = "", seconds
    for unit, size in (("d", _DAY), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out or "0s"
