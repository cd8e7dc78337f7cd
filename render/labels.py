"""Labels every object the stack renders carries, so `kubectl get -l` finds what it owns."""

from __future__ import annotations

MANAGED_BY = {"app.kubernetes.io/managed-by": "sovereign-faas"}
