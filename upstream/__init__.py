"""Exact ports of upstream behaviour, importing nothing of ours (the lowest layer).

Each module names, in its docstring, the upstream files and the version it matches, and is
tested with cases restated from upstream's own tests:

- `kubernetes`: what the API server, the kubelet and Go refuse (apimachinery, distribution/reference,
  Go's time.ParseDuration), and Kubernetes quantities;
- `drone_envsubst`: faas-cli's variable substitution in stack files (drone/envsubst v1.0.3);
- `robfig_cron`: the cron-connector's schedule parser (robfig/cron v3.0.1).
- `nats`: which subjects nats-server accepts in a user's permissions (nats-server v2.14.5).
"""
