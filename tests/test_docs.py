"""The documentation: docs/ is a site that builds strictly, the README's links into it resolve,
every reference to a page or a README section in the code resolves, and what the pages show
is what the code does. Every config key is declared once, in settings/: Pulumi.yaml's schema
and the tables in docs/configuration.md are generated from the models (`make docs`), and must
be current."""

from __future__ import annotations

import functools
import html
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import markdown
import pytest
import yaml

from settings.errors import Report
from settings.function_spec import Function, problems_with
from settings.stack import KNOWN_KEYS, SECRET_KEYS, SECTIONS, StackConfig
from settings.stackfile import load
from tools import docs
from tools.harness import PROJECT_DIR, required_secrets


def test_generated_parts_are_current() -> None:
    assert docs.main(["--check"]) == 0, "Pulumi.yaml or docs/configuration.md is stale: run `make docs` and commit the result"


def test_the_schema_declares_every_key_it_can_with_the_models_defaults() -> None:
    schema = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    fields = [f for m in SECTIONS.values() for f in m.model_fields.values()]
    undeclared = {str(f.alias) for f in fields if not docs.typed_in_schema(f)}
    assert {"nodes", "sysctl", "functionSecrets", "domain", "openfaasLicense"} <= undeclared
    assert set(schema) | undeclared == set(KNOWN_KEYS) and not set(schema) & undeclared
    header = (PROJECT_DIR / "Pulumi.yaml").read_text().split("\nconfig:", 1)[0]
    assert all(f"#   {key}" in header for key in undeclared)  # each still documented there
    defaults = StackConfig.model_validate({"nodes": [{"name": "a", "host": "h.example"}], "sshPrivateKey": "k", "adminCidrs": ["192.0.2.0/24"]})
    for section in ("k3s", "openfaas", "nats", "redis", "firewall", "data"):
        model = getattr(defaults, section)
        for name, info in type(model).model_fields.items():
            if info.alias in schema and "default" in schema[info.alias] and name not in model.model_fields_set:
                value = getattr(model, name)
                assert schema[info.alias]["default"] == (list(value) if isinstance(value, tuple) else value), info.alias


def test_secrets_are_marked_and_the_required_ones_get_plan_placeholders() -> None:
    schema = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    assert {k for k, v in schema.items() if v.get("secret")} == set(SECRET_KEYS) & set(schema)
    assert {"sshPrivateKey", "openfaasLicense", "functionSecrets"} <= set(SECRET_KEYS)
    # acmeEabHmacKey, alertSmtpPassword and alertWebhookToken, like openfaasLicense, are read
    # only when the keys they go with are set.
    assert set(required_secrets()) == {"sshPrivateKey", "openfaasLicense", "acmeEabHmacKey", "alertSmtpPassword", "alertWebhookToken"}


def test_a_stale_table_is_found(tmp_path, monkeypatch, capsys) -> None:
    page = tmp_path / "configuration.md"
    text = (PROJECT_DIR / "docs" / "configuration.md").read_text()
    assert "| `k3sReadyTimeout` | integer | `300` |" in text
    page.write_text(text.replace("| `k3sReadyTimeout` | integer | `300` |", "| `k3sReadyTimeout` | integer | `301` |"))
    monkeypatch.setattr(docs, "CONFIGURATION", page)
    assert docs.main(["--check"]) == 1
    assert f"stale: {page}" in capsys.readouterr().err


def test_a_page_without_a_tables_markers_is_named(tmp_path, monkeypatch, capsys) -> None:
    page = tmp_path / "configuration.md"
    page.write_text((PROJECT_DIR / "docs" / "configuration.md").read_text().replace("<!-- BEGIN generated: k3s -->", ""))
    monkeypatch.setattr(docs, "CONFIGURATION", page)
    assert docs.main(["--check"]) == 1
    assert "lacks the markers for: k3s" in capsys.readouterr().err



# What the Pulumi CLI checks of a stack against Pulumi.yaml before the program runs (pulumi's
# sdk/go/common/workspace ValidateStackConfigAndApplyProjectConfig, cases from its
# project_test.go): a typed key without a default must be set ("Stack 'dev' is missing
# configuration value"), a set value must have its declared type, a secret one must be
# encrypted; keys the project does not declare pass through untouched.
_PULUMI_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list}


def cli_problems(stack_file: str, set_as_secrets: tuple[str, ...]) -> list[str]:
    schema = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    values = {k.split(":", 1)[1]: v for k, v in (yaml.safe_load((PROJECT_DIR / stack_file).read_text())["config"] or {}).items()}
    values.update({k: {"secure": "v1:..."} for k in set_as_secrets})
    problems = []
    for key, spec in schema.items():
        if key not in values:
            if "default" not in spec:
                problems.append(f"missing configuration value '{key}'")
            continue
        value = values[key]
        if spec.get("secret"):
            if not (isinstance(value, dict) and "secure" in value):
                problems.append(f"'{key}' must be encrypted as it's secret")
        elif not isinstance(value, _PULUMI_TYPES[spec["type"]]) or (spec["type"] == "integer" and isinstance(value, bool)):
            problems.append(f"'{key}' must be of type '{spec['type']}'")
    return problems


def test_the_cli_accepts_each_example_stack_as_the_deploy_steps_set_it_up() -> None:
    """The deploy steps (README.md, docs/index.md) set sshPrivateKey (and, for Pro, openfaasLicense) as secrets."""
    for path in sorted(PROJECT_DIR.glob("Pulumi.*.yaml")):
        assert cli_problems(path.name, ("sshPrivateKey",)) == [], path.name


def test_no_optional_key_is_declared_so_that_the_cli_would_require_it() -> None:
    schema = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    assert {k for k, v in schema.items() if "default" not in v} == {"sshPrivateKey"}
    for key in ("domain", "acmeEmail", "openfaasLicense", "k3sMirror", "nodes"):
        assert key not in schema, key


# --- the site -------------------------------------------------------------------------------

MKDOCS = Path(sys.executable).with_name("mkdocs")
SKIPPED_DIRS = {".git", ".venv", ".venv-scan", "build", "docs", "node_modules", "__pycache__", ".pytest_cache"}


@functools.cache
def without_network() -> tuple[str, ...]:
    """The prefix that runs a command in a network namespace of its own, which has no way out
    (as another user than root, inside a user namespace of its own). Empty where this user may
    have neither: the build is then still strict, only not shown to be offline."""
    prefix = ("unshare", "--net") if os.geteuid() == 0 else ("unshare", "--map-root-user", "--net")
    if shutil.which("unshare") and subprocess.run([*prefix, "true"], capture_output=True, timeout=30).returncode == 0:
        return (*prefix, "--")
    assert os.geteuid() != 0, "as root, a network namespace must be possible (util-linux unshare)"
    return ()


def build_site(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """`mkdocs build --strict` of `project`'s mkdocs.yml, as `make docs-site` runs it, with no
    network: the build must need nothing from outside."""
    # Material prints its end-of-life notice on every build; docs/dependencies.md has the plan.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [str(MKDOCS), "build", "--strict", "--config-file", str(project / "mkdocs.yml"), "--site-dir", str(site)]
    return subprocess.run([*without_network(), *command], cwd=project, capture_output=True, text=True, timeout=300, env=env)


def warnings_of(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("WARNING")]


def test_the_site_builds_strictly_and_offline(tmp_path: Path) -> None:
    result = build_site(PROJECT_DIR, tmp_path / "site")
    assert result.returncode == 0 and not warnings_of(result), result.stderr
    pages = sorted(p.relative_to(PROJECT_DIR / "docs") for p in (PROJECT_DIR / "docs").rglob("*.md"))
    assert len(pages) >= 15
    for page in pages:
        assert (tmp_path / "site" / page.with_suffix(".html")).is_file(), page
    html = "".join(p.read_text() for p in (tmp_path / "site").rglob("*.html"))
    for outside in ("fonts.googleapis.com", "fonts.gstatic.com", "unpkg.com", "cdn.jsdelivr.net"):
        assert outside not in html, f"a page loads {outside}"


def copy_of_the_docs(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "docs").parent.mkdir(parents=True)
    shutil.copytree(PROJECT_DIR / "docs", project / "docs")
    shutil.copy(PROJECT_DIR / "mkdocs.yml", project / "mkdocs.yml")
    return project


@pytest.mark.parametrize(
    ("page", "text", "expected"),
    [
        ("limits.md", "\nSee [the manual](manual.md).\n", "contains a link 'manual.md', but the target is not found"),
        ("limits.md", "\nSee [node tuning](configuration.md#node-tunning).\n", "does not contain an anchor '#node-tunning'"),
        ("limits.md", "\nSee [strict mode](#strict-mode).\n", "contains a link '#strict-mode', but there is no such anchor on this page"),
        ("orphan.md", "# Not in nav\n", 'exist in the docs directory, but are not included in the "nav" configuration'),
    ],
    ids=["broken link", "broken anchor on another page", "broken anchor on the same page", "page not in nav"],
)
def test_a_broken_reference_fails_the_build(tmp_path: Path, page: str, text: str, expected: str) -> None:
    project = copy_of_the_docs(tmp_path)
    with (project / "docs" / page).open("a") as f:
        f.write(text)
    result = build_site(project, tmp_path / "site")
    assert result.returncode != 0
    assert any(expected in w for w in warnings_of(result)), result.stderr


# --- links and references into docs/ ----------------------------------------------------------

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def heading_ids(page: Path) -> dict[str, str]:
    """Each heading's anchor as MkDocs makes it (Python-Markdown's toc, as mkdocs.yml configures
    it), mapped to the anchor GitHub makes for it when it shows the file."""
    md = markdown.Markdown(extensions=["toc", "tables", "pymdownx.superfences"])
    md.convert(page.read_text())
    headings: list[dict[str, Any]] = md.toc_tokens  # type: ignore[attr-defined]  # the toc extension sets it

    def walk(tokens: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for token in tokens:
            yield token
            yield from walk(token["children"])

    return {t["id"]: github_anchor(t["name"]) for t in walk(headings)}


def github_anchor(heading: str) -> str:
    """GitHub's anchor for a heading's text: lower case, punctuation but '-' and '_' dropped,
    each space a '-'."""
    return re.sub(r"[^\w\- ]", "", html.unescape(heading).lower()).replace(" ", "-")


def anchor_problem(page: Path, anchor: str) -> str | None:
    ids = heading_ids(page)
    if anchor not in ids:
        return f"no heading of {page.relative_to(PROJECT_DIR)} has the anchor #{anchor}"
    if ids[anchor] != anchor:
        return f"#{anchor} is #{ids[anchor]} on GitHub: reword the heading so both agree"
    return None


def link_problems(source: Path) -> list[str]:
    """What is wrong with the relative links of a Markdown file: a missing file, a missing anchor."""
    problems = []
    for target in LINK.findall(source.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        file = (source.parent / path).resolve() if path else source
        where = f"{source.relative_to(PROJECT_DIR)}: ({target})"
        if not file.exists():
            problems.append(f"{where}: no such file")
        elif anchor and file.suffix == ".md" and (problem := anchor_problem(file, anchor)):
            problems.append(f"{where}: {problem}")
    return problems


def test_the_readme_links_into_docs_and_every_link_resolves() -> None:
    readme = PROJECT_DIR / "README.md"
    targets = LINK.findall(readme.read_text())
    assert sum(t.startswith("docs/") for t in targets) >= 15, "the README should link into docs/"
    assert link_problems(readme) == []


def test_the_readme_stays_short() -> None:
    assert len((PROJECT_DIR / "README.md").read_text().splitlines()) <= 200, "move the detail into docs/"


def test_links_between_pages_work_on_github_too() -> None:
    """MkDocs checks the site's links; GitHub shows the same files with its own anchors."""
    problems = [p for page in sorted((PROJECT_DIR / "docs").rglob("*.md")) for p in link_problems(page)]
    assert problems == []


def project_files() -> Iterator[Path]:
    """The project's own source, config and build files (not docs/, which the build checks)."""
    for root, dirs, files in os.walk(PROJECT_DIR):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(files):
            if name == "Makefile" or name.endswith((".py", ".yaml", ".yml", ".toml", ".txt", ".sh", ".bash")):
                yield Path(root) / name


# A README section named in prose: the word README (or README's, or README:), then the section's
# name in double or single quotes, or several names separated by commas or "and"; a name may
# wrap onto the next line. Not someone else's README (the chart's, for one).
SECTION_REF = re.compile(r"(?<!'s )\bREADME(?:'s)?:?\s+(?=[\"'])")
SECTION_NAME = re.compile(r"\s*(?:,|and)?\s*([\"'])([^\"'\n]+(?:\n[^\"'\n]+)?)\1")
# A page of ours: docs/<page>.md[#anchor]. Not another repository's ("openfaas/docs docs/...").
PAGE_REF = re.compile(r"(?<![\w/.-])docs/((?:[\w.-]+/)*[\w.-]+\.md)(?:#([\w-]+))?")


def readme_headings() -> set[str]:
    text = re.sub(r"```.*?```", "", (PROJECT_DIR / "README.md").read_text(), flags=re.S)
    return {m.group(1).strip() for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def section_refs(text: str) -> Iterator[tuple[int, str]]:
    """(offset, section name) of each README section named in `text`."""
    for ref in SECTION_REF.finditer(text):
        pos = ref.end()
        while name := SECTION_NAME.match(text, pos):
            yield ref.start(), " ".join(name.group(2).split())
            pos = name.end()


def reference_problems(path: Path, headings: set[str], root: Path = PROJECT_DIR) -> list[str]:
    """Each reference in `path` to a README section that is not one, or to a docs page or anchor
    that does not exist, as `<file>:<line>: <what>` (the file named from `root`)."""
    text = path.read_text(errors="replace")

    def where(offset: int) -> str:
        return f"{path.relative_to(root)}:{text.count(chr(10), 0, offset) + 1}"

    problems = [
        f"{where(offset)}: README has no section {name!r}; the docs page it moved to?"
        for offset, name in section_refs(text) if name not in headings
    ]
    for ref in PAGE_REF.finditer(text):
        if re.search(r"[\w.-]+/docs$", text[max(0, ref.start() - 60): ref.start()].rstrip()):
            continue  # another repository's docs/ folder
        page = PROJECT_DIR / "docs" / ref.group(1)
        if not page.is_file():
            problems.append(f"{where(ref.start())}: no page docs/{ref.group(1)}")
        elif ref.group(2) and (problem := anchor_problem(page, ref.group(2))):
            problems.append(f"{where(ref.start())}: {problem}")
    return problems


def test_every_reference_to_the_docs_in_the_project_resolves() -> None:
    headings = readme_headings()
    assert "The two commands" in headings
    problems = [p for path in project_files() for p in reference_problems(path, headings)]
    assert problems == [], "\n".join(problems)


def test_the_reference_scanner_finds_each_form(tmp_path: Path) -> None:
    """It must be able to fail: every form of a stale reference is found, with its line."""
    quote, docs_dir = '"', "docs"  # spelled so, this module holds no reference itself
    sample = tmp_path / "sample.py"
    sample.write_text(
        f"# README {quote}Upgrading{quote}, {quote}Removing a node{quote}\n"
        f"# the README's {quote}Backups and\n# restore{quote}\n"
        f"# README: {quote}The two commands{quote} and the chart's README: {quote}not ours{quote}\n"
        f"# {docs_dir}/nothing-here.md, {docs_dir}/functions.md#no-such-heading, openfaas/docs {docs_dir}/reference/cron.md\n"
    )
    problems = reference_problems(sample, readme_headings(), root=tmp_path)
    assert problems == [
        "sample.py:1: README has no section 'Upgrading'; the docs page it moved to?",
        "sample.py:1: README has no section 'Removing a node'; the docs page it moved to?",
        "sample.py:2: README has no section 'Backups and # restore'; the docs page it moved to?",
        f"sample.py:5: no page {docs_dir}/nothing-here.md",
        f"sample.py:5: no heading of {docs_dir}/functions.md has the anchor #no-such-heading",
    ]


# --- what the pages show is what the code does --------------------------------------------------


def minimal_function_entry() -> str:
    page = (PROJECT_DIR / "docs" / "functions.md").read_text()
    section = page.split("\n## A minimal function to copy\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```yaml\n(.*?)```", section, re.S)
    return block


def read_functions(path: Path, env: dict[str, str]) -> tuple[Function, ...]:
    report = Report("Pulumi.test.yaml")
    functions = load(path, "stack.yml", env, "openfaas-fn", report, root=path.parent)
    report.raise_if_any()
    return functions


def test_the_minimal_function_entry_passes_the_stack_file_reader_and_every_rule(tmp_path: Path) -> None:
    stack = tmp_path / "stack.yml"
    stack.write_text(minimal_function_entry())
    (fn,) = read_functions(stack, {})
    assert (fn.name, fn.image, fn.read_only_root_filesystem) == ("hello", "registry.example.no/faas/hello:0.1.0", True)
    assert problems_with(fn, pro=False) == [] and problems_with(fn, pro=True) == []
    (fn,) = read_functions(stack, {"REGISTRY": "registry.example.no/team"})
    assert fn.image == "registry.example.no/team/hello:0.1.0"


def test_the_minimal_function_entry_adds_to_the_repositorys_stack_file(tmp_path: Path) -> None:
    """As the page says: put it under `functions:` in functions/stack.yml."""
    shutil.copytree(PROJECT_DIR / "functions", tmp_path / "functions", ignore=shutil.ignore_patterns("__pycache__"))
    entry = minimal_function_entry().split("\nfunctions:\n", 1)[1]
    stack = tmp_path / "functions" / "stack.yml"
    stack.write_text(stack.read_text() + entry)
    functions = read_functions(stack, {})
    assert [f.name for f in functions] == ["img-resize", "hello"]
    assert all(problems_with(f, pro=False) == [] for f in functions)
