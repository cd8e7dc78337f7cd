"""How a script under `render/node/scripts/` becomes a `remote.Command` command string.

The scripts are real files (shellcheck-clean, tested in a sandbox), one folder per step
(`scripts/<step>/`), with the functions they share in `scripts/lib/common.bash`. A script is
named by its file name alone, which is unique across the folders: that name is what the
command string carries, so moving a script to another folder changes no plan. This module
only wraps a script so that the SSH login shell runs it under bash, as root or through
`sudo -n`:

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
from pathlib import Path

SCRIPTS_DIR = Path(__file__).parent / "scripts"
LIBRARY = SCRIPTS_DIR / "lib" / "common.bash"  # die, report: put in front of every script
_DELIMITER = "SOVEREIGN_FAAS_SCRIPT"


class Scripts:
    """The scripts in the step folders of one or more roots (`<root>/<step>/<name>.sh`),
    found by file name. The shared library comes from LIBRARY whatever the roots."""

    def __init__(self, *roots: Path) -> None:
        self._paths: dict[str, Path] = {}
        for root in roots:
            for path in sorted(root.glob("*/*.sh")):
                if path.name in self._paths:
                    other = self._paths[path.name]
                    raise ValueError(f"{path}: a script named {path.name} is also at {other}; script names must be unique")
                self._paths[path.name] = path
        self._texts: dict[str, str] = {}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._paths)

    def path(self, name: str) -> Path:
        if name not in self._paths:
            have = ", ".join(sorted(self._paths))
            raise ValueError(f"no script named {name!r} in a step folder (render/node/scripts/<step>/); have: {have}")
        return self._paths[name]

    def text(self, name: str) -> str:
        """The text that runs as `name`: the shared functions, then the script itself (its
        shebang line is then just a comment). Read once."""
        if name not in self._texts:
            text = LIBRARY.read_text(encoding="utf-8") + "\n" + self.path(name).read_text(encoding="utf-8")
            if _DELIMITER in text:
                raise ValueError(f"{self.path(name)} must not contain the line {_DELIMITER}")
            self._texts[name] = text
        return self._texts[name]

    def command(self, script: str, args: tuple[str, ...] = (), *, sudo: bool = False, ssh_client: bool = False) -> str:
        """The command string that runs `script` with `args` on the remote host.

        `sudo` is for non-root SSH users; `-n` makes a missing sudo rule fail at once instead
        of waiting for a password prompt that nobody will answer. `ssh_client` appends one
        more argument: the address this SSH session comes from, as the login shell sees it in
        $SSH_CONNECTION (sudo would drop the variable itself), or "" if unknown.
        """
        body = self.text(script).rstrip("\n")
        prefix = "sudo -n bash" if sudo else "bash"
        quoted = " ".join(shlex.quote(a) for a in (script, *args))
        client = ' "${SSH_CONNECTION%% *}"' if ssh_client else ""
        return f"{prefix} -c \"$(cat <<'{_DELIMITER}'\n{body}\n{_DELIMITER}\n)\" {quoted}{client}"


SCRIPTS = Scripts(SCRIPTS_DIR)


def script_path(name: str) -> Path:
    """Where the script `name` lives (`render/node/scripts/<step>/<name>`)."""
    return SCRIPTS.path(name)


def render_command(script: str, args: tuple[str, ...] = (), *, sudo: bool = False, ssh_client: bool = False) -> str:
    """`Scripts.command` for the project's own scripts."""
    return SCRIPTS.command(script, args, sudo=sudo, ssh_client=ssh_client)
