"""Cron schedules as OpenFaaS' cron-connector reads them.

cron-connector 0.7.0 (types/scheduler.go) parses a function's `schedule` annotation with
github.com/robfig/cron/v3 v3.0.1, `cron.NewParser(Minute | Hour | Dom | Month | Dow | Descriptor)`;
a schedule it cannot parse is skipped (only logged), so the stack refuses it at preview. This is that
parser (robfig/cron parser.go, spec.go bounds) in Python:

- an optional `TZ=<zone> ` or `CRON_TZ=<zone> ` prefix (an IANA zone, `UTC` or `Local`);
- a descriptor: `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`,
  or `@every <Go duration>` (e.g. `@every 1h30m`);
- or exactly five fields (no seconds): minute 0-59, hour 0-23, day of month 1-31, month 1-12 or
  `jan`-`dec`, day of week 0-6 or `sun`-`sat` (names in any case). Each field is a comma list of
  `*` or `?`, a number or name, a range `a-b`, each optionally with a step `/n`.
Quirks kept: empty list items are dropped (`1,,2`), `*-5` is `*`, `5/10` runs from 5 to the field's
maximum. Not supported by the CE connector: several schedules separated by `;` (the docs describe them
for OpenFaaS Pro's connector).
"""

from __future__ import annotations

import re
import zoneinfo

from upstream.kubernetes import parse_go_duration

DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (name, min, max, names): spec.go's bounds for the five fields the connector's parser takes.
_FIELDS = (("minute", 0, 59, None), ("hour", 0, 23, None), ("day of month", 1, 31, None), ("month", 1, 12, _MONTHS), ("day of week", 0, 6, _DAYS))
_GO_SPACE = "\t\n\v\f\r \x85\xa0"
_INT64_MAX = 2**63 - 1


class ScheduleError(ValueError):
    """A schedule robfig/cron's parser refuses; the message is its error, in its words."""


def _go_fields(text: str) -> list[str]:
    """strings.Fields: split on Go's unicode.IsSpace."""
    out, current = [], ""
    for c in text:
        if c in _GO_SPACE or (ord(c) > 0xFF and c.isspace()):
            if current:
                out.append(current)
            current = ""
        else:
            current += c
    return [*out, current] if current else out


def _atoi(expr: str) -> int:
    """mustParseInt: strconv.Atoi (sign, ASCII digits, int64), then no negatives."""
    if not re.fullmatch(r"[+-]?[0-9]+", expr) or abs(int(expr)) > _INT64_MAX + (expr.startswith("-")):
        raise ScheduleError(f"failed to parse int from {expr}")
    number = int(expr)
    if number < 0:
        raise ScheduleError(f"negative number ({number}) not allowed: {expr}")
    return number


def _range(expr: str, low: int, high: int, names: dict[str, int] | None) -> None:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    if low_and_high[0] in ("*", "?"):
        start, end = low, high
    else:
        start = names[low_and_high[0].lower()] if names and low_and_high[0].lower() in names else _atoi(low_and_high[0])
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = names[low_and_high[1].lower()] if names and low_and_high[1].lower() in names else _atoi(low_and_high[1])
        else:
            raise ScheduleError(f"too many hyphens: {expr}")
    step = 1
    if len(range_and_step) == 2:
        step = _atoi(range_and_step[1])
        if len(low_and_high) == 1:
            end = high
    elif len(range_and_step) > 2:
        raise ScheduleError(f"too many slashes: {expr}")
    if start < low:
        raise ScheduleError(f"beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise ScheduleError(f"end of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise ScheduleError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise ScheduleError(f"step of range should be a positive number: {expr}")


def _location(name: str) -> None:
    """time.LoadLocation, as far as Python's zone database knows the zones."""
    if name in ("", "UTC", "Local"):
        return
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"provided bad location {name}: unknown time zone {name}") from None


def check_schedule(spec: str) -> None:
    """Raise ScheduleError where robfig/cron v3.0.1's parser (the connector's options) refuses `spec`."""
    if not spec:
        raise ScheduleError("empty spec string")
    if spec.startswith(("TZ=", "CRON_TZ=")):
        space = spec.find(" ")
        if space < 0:  # Go slices spec[eq+1:-1] and panics: the connector would crash
            raise ScheduleError("a TZ= prefix must be followed by a space and the schedule")
        _location(spec[spec.find("=") + 1 : space])
        spec = spec[space:].strip(_GO_SPACE)
    if spec.startswith("@"):
        if spec in DESCRIPTORS:
            return
        if spec.startswith("@every "):
            try:
                parse_go_duration(spec[len("@every ") :])
            except ValueError as err:
                raise ScheduleError(f"failed to parse duration {spec}: {err}") from None
            return
        raise ScheduleError(f"unrecognized descriptor: {spec}")
    fields = _go_fields(spec)
    if len(fields) != len(_FIELDS):
        raise ScheduleError(f"expected exactly {len(_FIELDS)} fields, found {len(fields)}: [{' '.join(fields)}]")
    for text, (_, low, high, names) in zip(fields, _FIELDS, strict=True):
        for expr in (e for e in text.split(",") if e):
            _range(expr, low, high, names)


def schedule_problem(spec: str) -> str | None:
    """None for a schedule the cron-connector runs; otherwise why not, with the forms it takes."""
    try:
        check_schedule(spec)
    except ScheduleError as err:
        hint = "; several schedules separated by ';' need OpenFaaS Pro's cron-connector" if ";" in spec else ""
        return (
            f"{err} (the cron-connector takes five fields 'minute hour day-of-month month day-of-week', "
            f"e.g. '*/5 * * * *', or @hourly/@daily/@weekly/@monthly/@yearly or '@every 10m'){hint}"
        )
    return None
