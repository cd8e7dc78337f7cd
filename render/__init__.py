"""The render layer: settings in; manifests, script invocations and config text out.

Pure functions of typed settings (settings/) that return data: Kubernetes objects as dicts,
config files as text, the node's steps as a table. Nothing here registers a Pulumi resource
or imports the Pulumi SDK (an import-linter contract, pyproject.toml): components/ registers
what this layer builds, and the egress inventory (render/egress.py) reads the same data.
"""
