"""Every pinned version the stack deploys, in one place.

To bump one: change it here, run `make plan` to see the diff it makes and `make test`
(the strict schema test follows the Kubernetes minor of the K3s pin).
"""

# K3s release (https://github.com/k3s-io/k3s/releases); the stable channel's as of 2026-08.
# Also the default of `k3sVersion` in Pulumi.yaml (a test keeps both equal).
K3S = "v1.36.4+k3s1"

# OpenFaaS Helm chart (https://github.com/openfaas/faas-netes/tree/master/chart/openfaas).
# Chart keys we write are checked against OPENFAAS_CHART_KEYS in components/openfaas.py.
OPENFAAS_CHART = "15.0.6"
