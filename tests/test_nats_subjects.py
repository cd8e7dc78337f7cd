"""upstream/nats.py against nats-server v2.14.5's own cases (server/sublist_test.go,
TestSublistValidSubjects), and against the nats-server installed here for what it refuses."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from render import nats
from settings.data_services import NatsSettings
from tests.servers import require
from upstream.nats import is_valid_subject

VALID = ["foo", "foo.bar.*", "foo.bar.>", "*", ">", "foo*", "foo**", "foo.**", "foo*bar", "foo.*bar", "foo*.bar", "*bar", "foo>", "foo.>>",
         "foo>bar", "foo.>bar", "foo>.bar", ">bar", "image-upload", "orders.created"]  # fmt: skip
INVALID = [".", ".foo", "foo.", "foo..bar", ">.bar", "foo.>.bar", "", "image upload", "a.\tb", " ", "a. .b"]


@pytest.mark.parametrize("subject", VALID)
def test_valid_subjects(subject: str) -> None:
    assert is_valid_subject(subject)


@pytest.mark.parametrize("subject", INVALID)
def test_invalid_subjects(subject: str) -> None:
    assert not is_valid_subject(subject)


@pytest.mark.servers
@pytest.mark.parametrize("topic", ["foo..bar", "foo.>.bar", ".foo"])
def test_what_we_refuse_the_installed_nats_server_refuses_too(tmp_path: Path, topic: str) -> None:
    """The reason for the check: with such a topic in its permissions nats-server does not
    start (2.9 here; whitespace it still accepted, 2.14 refuses it too)."""
    config = nats.server_config(NatsSettings(), nats.NatsClients((topic,)))
    config["include"] = nats.Include(nats.PASSWORDS_FILE)
    config["jetstream"] = {**config["jetstream"], "store_dir": str(tmp_path / "js")}
    (tmp_path / nats.PASSWORDS_FILE).write_text(nats.passwords_config({nats.FUNCTION_USER: "a", nats.CONNECTOR_USER: "b"}))
    (tmp_path / "nats.conf").write_text(nats.render_config(config))
    checked = subprocess.run([require("nats-server"), "-c", str(tmp_path / "nats.conf"), "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode != 0 and "is not a valid subject" in checked.stdout + checked.stderr
