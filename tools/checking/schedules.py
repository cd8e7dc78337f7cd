"""Cron schedules as K3s and Kubernetes CronJobs read them: how long a gap between two runs may be."""

from __future__ import annotations

import datetime as dt

from tools.checking.rows import UTC
from upstream.kubernetes import parse_go_duration
from upstream.robfig_cron import check_schedule

_CRON_DESCRIPTORS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
}
_CRON_NAMES = ({}, {}, {}, {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())},
               {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())})  # fmt: skip
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


def _cron_values(text: str, index: int) -> set[int]:
    low, high = _CRON_RANGES[index]
    values: set[int] = set()
    for part in (p for p in text.lower().split(",") if p):
        span, _, step = part.partition("/")
        if span in ("*", "?"):
            a, b = low, high
        else:
            first, _, last = span.partition("-")
            a = int(_CRON_NAMES[index].get(first, first))
            b = int(_CRON_NAMES[index].get(last, last)) if last else (high if step else a)  # "N/step": N to the maximum
        values |= set(range(a, b + 1, int(step or 1)))
    return values


def schedule_interval(schedule: str) -> dt.timedelta:
    """The longest gap between two runs of a cron schedule, as K3s (etcd-snapshot-schedule-cron)
    and Kubernetes CronJobs read it: robfig/cron v3's five fields or descriptors, checked by its
    port (upstream/robfig_cron.py), then found by stepping minutes through 63 days. A day matches
    as robfig's dayMatches has it: both day fields restricted, either one; otherwise both."""
    text = " ".join(schedule.split())
    check_schedule(text)  # ScheduleError (a ValueError) naming what robfig would refuse
    if text.startswith("@every "):
        return dt.timedelta(seconds=parse_go_duration(text.removeprefix("@every ")))
    if text in ("@yearly", "@annually"):
        return dt.timedelta(days=366)
    fields = _CRON_DESCRIPTORS.get(text, text).split(" ")
    if len(fields) != 5:
        raise ValueError(f"{schedule!r} is not a 5-field cron schedule")
    minute, hour, dom, month, dow = (_cron_values(f, i) for i, f in enumerate(fields))
    dom_star, dow_star = fields[2] in ("*", "?"), fields[4] in ("*", "?")
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    runs = []
    for step in range(63 * 24 * 60):
        t = start + dt.timedelta(minutes=step)
        day = (
            (t.day in dom and (t.isoweekday() % 7) in dow)
            if (dom_star or dow_star)
            else (t.day in dom or (t.isoweekday() % 7) in dow)
        )
        if t.minute in minute and t.hour in hour and t.month in month and day:
            runs.append(t)
    if len(runs) < 2:
        return dt.timedelta(days=366)
    return max(b - a for a, b in zip(runs, runs[1:], strict=False))
