"""The monitoring stack's ports, and the ports it scrapes elsewhere (each says whose it is)."""

PROMETHEUS = 9090
ALERTMANAGER = 9093
GRAFANA = 3000
NODE_EXPORTER = 9100  # on every node's address (host network)
KUBE_STATE_METRICS = 8080
KUBE_STATE_METRICS_TELEMETRY = 8081
NATS_EXPORTER = 7777  # prometheus-nats-exporter's default (exporter/exporter.go DefaultListenPort)
REDIS_EXPORTER = 9121  # redis_exporter's default (main.go web.listen-address)
GATEWAY_METRICS = 8082  # the OpenFaaS gateway's `gw-metrics` port
TRAEFIK_METRICS = 9100  # the Traefik chart's `metrics` entry point (values.yaml ports.metrics.port)
CERT_MANAGER_METRICS = 9402  # cert-manager's controller, --metrics-listen-address default
ETCD_METRICS = 2381  # K3s' embedded etcd metrics listener (etcd-expose-metrics)
NATS_MONITOR = 8222  # render/nats.py MONITOR_PORT
REDIS = 6379
