"""The previous deployment's stack outputs, read back through a StackReference to this stack.

`pulumi up` and `pulumi preview` read them before anything is registered, so a refused change
(settings/upgrades.py) stops the preview. A first deploy has no outputs yet: an empty map.
Under the mock engine the harness answers the reference (tools/harness.py, `previous=`).
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.runtime.sync_await import _sync_await


def previous_outputs() -> dict[str, Any]:
    name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    ref = pulumi.StackReference("previous-deployment", stack_name=name)
    # The reference is read (not created) in preview too; wait for it here, as the SDK's own
    # synchronous invokes do, so a refusal can stop the program before it registers anything.
    outputs = _sync_await(ref.outputs.future())
    return dict(outputs or {})
