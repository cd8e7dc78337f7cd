"""NATS subjects as nats-server checks them.

nats-server v2.14.5 server/sublist.go `IsValidSubject` (what it applies to the subjects of a
user's permissions when it loads its configuration, server/opts.go checkSubjectArray): the
subject is split on `.`; no token may be empty, nothing may follow a `>` token, and no token
may contain a space, tab, newline, carriage return or form feed. `*` and `>` inside a longer
token are plain characters (`foo*`, `foo>bar` are valid). nats-server 2.9 accepted whitespace
here; 2.14 refuses it, and the protocol cannot carry it in a subscription anyway.
"""

from __future__ import annotations

SEPARATOR = "."
FULL_WILDCARD = ">"
WHITESPACE = "\t\n\f\r "


def is_valid_subject(subject: str) -> bool:
    if not subject:
        return False
    after_full_wildcard = False
    for token in subject.split(SEPARATOR):
        if not token or after_full_wildcard:
            return False
        if any(c in WHITESPACE for c in token):
            return False
        after_full_wildcard = token == FULL_WILDCARD
    return True
