"""A check's result: rows of (check, target, status, detail), the table and the verdict."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

OK, FAIL, SKIP = "OK", "FAIL", "SKIP"
UTC = dt.UTC


@dataclass(frozen=True)
class Row:
    check: str
    target: str
    status: str
    detail: str


def table(rows: Sequence[Row]) -> str:
    head = Row("check", "target", "status", "detail")
    widths = [max(len(getattr(r, f)) for r in (head, *rows)) for f in ("check", "target", "status")]
    lines = []
    for r in (head, *rows):
        lines.append(f"{r.check:<{widths[0]}}  {r.target:<{widths[1]}}  {r.status:<{widths[2]}}  {r.detail}".rstrip())
    return "\n".join(lines)


def verdict(rows: Sequence[Row]) -> tuple[str, int]:
    failed = [f"{r.check} {r.target}" if r.target != "-" else r.check for r in rows if r.status == FAIL]
    if failed:
        return f"FAILED ({len(failed)}): " + ", ".join(failed), 1
    return f"all {sum(r.status == OK for r in rows)} checks OK ({sum(r.status == SKIP for r in rows)} skipped)", 0
