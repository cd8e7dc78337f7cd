# sovereign-faas: the two commands a newcomer needs are `make plan` and `make test`.
STACK    ?= oslo
SET      ?=
SECRET   ?=
SET_FILE ?=
PREVIOUS ?=
CHECK_ARGS ?=
PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
SCAN     := .venv-scan

# Single-quoted for the shell (a ' inside becomes '\''): `$(call quote,--set,$(SET))` gives
# each word of SET its own --set; `$(call quote_all,--set-file,$(SET_FILE))` keeps the spaces.
quoted = '$(subst ','\'',$(1))'
quote = $(foreach w,$(2),$(1) $(call quoted,$(w)))
quote_all = $(if $(2),$(1) $(call quoted,$(2)))

.PHONY: plan check test docs docs-site bench clean

## plan: run the stack offline under Pulumi's mock engine -> build/$(STACK)/ (needs only requirements.txt)
##   SET="domain=faas.example.no acmeEmail=ops@example.no": config keys for this plan only (VALUE is YAML)
##   SECRET="openfaasLicense=...": secret keys, as `pulumi config set --secret` stores them; every
##     output shows "[secret]" (a secret the stack file leaves out needs none: the plan uses "[secret]")
##   SET_FILE=plan.yaml: keys from a YAML map, for maps and lists (make splits SET on spaces, so
##     SET cannot carry `{secure: x}` or `[a, b]`); write a secret as `key: {secure: VALUE}`
##   PREVIOUS="k3sVersion=v1.35.2+k3s1 firstServer=oslo-1": the previous deployment's outputs
##   `.venv/bin/python -m tools.plan --help` says the same
plan: $(VENV)/.runtime
	$(strip $(PY) -m tools.plan --stack $(STACK) $(call quote_all,--set-file,$(SET_FILE)) $(call quote,--set,$(SET)) \
		$(call quote,--set-secret,$(SECRET)) $(call quote,--previous,$(PREVIOUS)))

## check: read-only check of the live deployment STACK (docs/operations/check.md); needs pulumi and kubectl
##   CHECK_ARGS="--ssh": also read the nodes' egress drop counters over SSH (key: pulumi config get sshPrivateKey)
##   exits 1 naming what failed, 2 when there is no cluster to check; `.venv/bin/python -m tools.check --help`
check: $(VENV)/.runtime
	$(strip $(PY) -m tools.check --stack $(STACK) $(CHECK_ARGS))

## test: every test (mocks, strict schemas, shellcheck, sandboxed scripts)
test: $(VENV)/.installed $(SCAN)/.installed
	$(PY) -m pytest

## docs: Pulumi.yaml's config schema and the tables in docs/configuration.md, from the models in settings/
docs: $(VENV)/.installed
	$(PY) -m tools.docs

## docs-site: the documentation site, docs/ -> build/site/ (offline; strict: a broken link or anchor fails)
docs-site: $(VENV)/.installed
	$(VENV)/bin/mkdocs build --strict --site-dir build/site

## bench: benchmarks that print figures (never run by `make test`)
bench: $(VENV)/.installed
	$(PY) -m bench.plan_process
	$(PY) -m bench.plan_speed
	$(PY) -m bench.img_resize
	$(PY) -m bench.redis_bench
	$(PY) -m bench.nats_failover
	$(PY) -m bench.data_backups
	$(PY) -m bench.valkey_failover

# Two stamps, each rebuilt when its requirements change: the plan needs only the runtime
# requirements (a new machine installs them in a fraction of the time the test tools take);
# the dev set (requirements-dev.txt includes the other three) includes them, so installing it brings the runtime stamp up to date too.
$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-docs.txt functions/img-resize/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

# checkov, in its own virtualenv (tests/test_security_scan.py runs it).
$(SCAN)/.installed: requirements-scan.txt
	test -x $(SCAN)/bin/python || $(PYTHON) -m venv $(SCAN)
	$(SCAN)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-scan.txt
	touch $@

clean:
	rm -rf build $(VENV) $(SCAN)
