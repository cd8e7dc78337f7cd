"""The stack's settings: typed, validated config, and no Pulumi resources.

One module per area (nodes, k3s, kernel, firewall, edge, openfaas, data, functions), the
domain types they share (types.py), Kubernetes' own syntax rules (kubernetes.py), the message
format (errors.py), and the whole stack with its entry point (stack.py). Components import the
settings they need; nothing here imports a component.
"""
