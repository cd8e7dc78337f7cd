"""How a script in `components/scripts/` becomes a `remote.Command` command string.

The scripts are real files (shellcheck-clean, tested in a sandbox); this module only wraps one
so that the SSH login shell runs it under bash, as root or through `sudo -n`:

    sudo -n bash -c "$(cat <<'SOVEREIGN_FAAS_SCRIPT'
    ...script...
    SOVEREIGN_FAAS_SCRIPT
    )" k3s-install.sh 'v1.36.4+k3s1' server

Why this shape:
- No `environment=`: stock sshd refuses SSH setenv and the command fails. Arguments are
  positional and shell-quoted; anything secret travels on stdin, never in this string (the
  string is stored in plain state and repeated in error messages).
- The script text is inside the command, so a change to the script is a change to the
  resource's inputs and shows up in `pulumi preview` as a diff of the step it belongs to.
"""

from __future__ import annotations

import shlex
from functools import cache
from pathlib import Path

SCRIPTS_DIR = Path(__file__).parent / "scripts"
_DELIMITER = "SOVEREIGN_FAAS_SCRIPT"


LIBRARY = SCRIPTS_DIR / "lib" / "common.bash"  # die, report: put in front of every script


@cache
def script_text(name: str) -> str:
    """The text that runs as `components/scripts/<name>`: the shared functions, then the
    script itself (its shebang line is then just a comment). Read once."""
    text = LIBRARY.read_text(encoding="utf-8") + "\n" + (SCRIPTS_DIR / name).read_text(encoding="utf-8")
    if _DELIMITER in text:
        raise ValueError(f"{name} must not contain the line {_DELIMITER}")
    return text


def render_command(script: str, args: tuple[str, ...] = (), *, sudo: bool = False, ssh_client: bool = False) -> str:
    """The command string that runs `script` with `args` on the remote host.

    `sudo` is for non-root SSH users; `-n` makes a missing sudo rule fail at once instead of
    waiting for a password prompt that nobody will answer. `ssh_client` appends one more
    argument: the address this SSH session comes from, as the login shell sees it in
    $SSH_CONNECTION (sudo would drop the variable itself), or "" if unknown.
    """
    body = script_text(script).rstrip("\n")
    prefix = "sudo -n bash" if sudo else "bash"
    quoted = " ".join(shlex.quote(a) for a in (script, *args))
    client = ' "${SSH_CONNECTION%% *}"' if ssh_client else ""
    return f"{prefix} -c \"$(cat <<'{_DELIMITER}'\n{body}\n{_DELIMITER}\n)\" {quoted}{client}"
