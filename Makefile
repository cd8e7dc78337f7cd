# sovereign-faas: the two commands a newcomer needs are `make plan` and `make test`.
STACK  ?= oslo
SET    ?=
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SCAN   := .venv-scan

.PHONY: plan test docs docs-site bench clean

## plan: run the stack offline under Pulumi's mock engine -> build/$(STACK)/
##   SET="domain=faas.example.no acmeEmail=ops@example.no" changes config keys for this plan only
##   PREVIOUS="k3sVersion=v1.35.2+k3s1 firstServer=oslo-1": the previous deployment's outputs
plan: $(VENV)/.installed
	$(PY) -m tools.plan --stack $(STACK) $(foreach s,$(SET),--set $(s)) $(foreach p,$(PREVIOUS),--previous $(p))

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
	$(PY) -m bench.plan_speed
	$(PY) -m bench.img_resize
	$(PY) -m bench.redis_bench

# The virtualenv is rebuilt whenever a requirements file changes (requirements-dev.txt includes
# the other three).
$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-docs.txt functions/img-resize/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# checkov, in its own virtualenv (tests/test_security_scan.py runs it).
$(SCAN)/.installed: requirements-scan.txt
	test -x $(SCAN)/bin/python || $(PYTHON) -m venv $(SCAN)
	$(SCAN)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-scan.txt
	touch $@

clean:
	rm -rf build $(VENV) $(SCAN)
