"""A throwaway view of this machine's file system for running the remote scripts in tests.

`Sandbox.run(command)` starts a private mount namespace (`unshare -m`) and mounts overlays on
/etc, /usr/local and /var/lib whose upper layers live under the test's directory: the scripts
write their production paths (/etc/sysctl.d, /etc/rancher/k3s, /usr/local/bin/k3s,
/etc/systemd/system), the writes land in the test's directory, and the real /etc never changes.
The same upper layers are reused by every run of one Sandbox, so state carries over from run to
run (config, then install, then a second run...), as on a real host.

Stand-ins for `sysctl`, `systemctl`, `udevadm` and `curl` come first on PATH (and setup refuses
to run the command if they do not resolve first). They keep their state in `state/` and append every call
to `calls.log`; both are outside the overlays, so a test sets conditions and reads what happened
without entering the namespace. `curl` serves a fake K3s installer which, like the real one,
writes /usr/local/bin/k3s (a stand-in that answers `--version` and the readiness queries from
`state/`), the systemd unit, the uninstall script, and restarts the service.

State files a test may set (`Sandbox.set_state`):
    fail-restart            `systemctl restart|start` fails while it exists
    active/<unit>           `systemctl is-active <unit>` says active (start/restart set it)
    enabled/<unit>          `systemctl is-enabled <unit>` says enabled (enable/disable set it)
    curl-fail               `curl` fails like a 404 (exit 22)
    urls/<url, / as %2F>    a file `curl` serves at that URL (`Sandbox.serve`): a mirror
    installer-fail          the fake installer fails after logging `install ...`
    readyz                  body of `k3s kubectl get --raw=/readyz` (absent: connection refused)
    readyz-refusals         refuse the first N readyz calls, then answer from `readyz`
    nodes/<name>            the Ready status of node <name> (absent: NotFound)
    node-versions/<name>    its kubelet version (absent: the installed stand-in's version)
    pods/<name>             the pods on it, one `namespace/name OwnerKind` a line
    drain-stuck/<name>      `kubectl drain` of it times out; these pods (`ns/name ...`)
                            would not move (a PodDisruptionBudget)
    unschedulable/<name>    it is cordoned (written by `kubectl cordon`, removed by uncordon)
    marks/<name>            its sovereign-faas.io/drained annotation
    sysctl.json             the live kernel values the sysctl stand-in knows (see `sysctl`)
    udevadm-fail            `udevadm` fails
A K3s config containing the line `sandbox-fail-start: true` also makes the restart of
k3s / k3s-agent fail, like a K3s that does not start with a bad config.

sysfs. Inside the namespace the real /sys is read-only (a per-mount `remount,bind,ro`, which
leaves the host's /sys writable), so a script can never change this machine's kernel or disks.
The scripts that tune sysfs read their root from SOVEREIGN_FAAS_SYSFS (production: /sys); the
sandbox sets it to a stand-in tree, `state/sys/`, holding the transparent-huge-pages files and
the queue/scheduler files of a few disks (`DEFAULT_SYSFS`), in the kernel's choice format
(`always [madvise] never`). The scripts do plain reads and writes of those files. A plain write
leaves the written word in the file, where the kernel would show the brackets moved; so after
each run the sandbox plays the kernel: every stand-in file that was written (plain content, or
a new mtime) is logged as `sysfs <path> <value>` and put back into the choice format with the
written value selected, or, if the value is not offered, logged with `(rejected)` and left at
its old value (the kernel refuses such a write with EINVAL). Within one run only the last write
to a file is seen; log lines of one run are in path order, not in the order written.

Log lines: `sysctl <args>`, `systemctl <args>`, `udevadm <args>`, `curl <args>`,
`install <version> <exec>` (`... skip-download` with INSTALL_K3S_SKIP_DOWNLOAD=true, which
needs /usr/local/bin/k3s in place, like the real installer), `uninstall <service>`, `k3s <args>`, `sysfs <path> <value>`.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

OVERLAID = ("/etc", "/usr/local", "/var/lib")
# What a root SSH session on Ubuntu gets; the stand-ins are put in front of it.
LOGIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Live values the sysctl stand-in starts with (multi-value settings use tabs, like the kernel).
DEFAULT_SYSCTL = {
    "fs.inotify.max_user_instances": "128",
    "fs.inotify.max_user_watches": "65536",
    "kernel.panic": "0",
    "kernel.panic_on_oops": "0",
    "net.core.somaxconn": "4096",
    "net.ipv4.tcp_rmem": "4096\t131072\t6291456",
    "vm.overcommit_memory": "0",
    "vm.panic_on_oom": "0",
}

# The stand-in sysfs: path under the sysfs root -> (offered values, selected value).
SCHEDULERS = ("none", "mq-deadline", "kyber", "bfq")
DEFAULT_SYSFS: dict[str, tuple[tuple[str, ...], str]] = {
    "kernel/mm/transparent_hugepage/enabled": (("always", "madvise", "never"), "madvise"),
    "kernel/mm/transparent_hugepage/defrag": (
        ("always", "defer", "defer+madvise", "madvise", "never"), "madvise"),
    "block/nvme0n1/queue/scheduler": (SCHEDULERS, "none"),
    "block/vda/queue/scheduler": (("none", "mq-deadline"), "none"),
    "block/sda/queue/scheduler": (SCHEDULERS, "bfq"),
    "block/loop0/queue/scheduler": (SCHEDULERS, "none"),
}


def choice_text(offered: tuple[str, ...] | list[str], selected: str) -> str:
    """A sysfs choice file as the kernel shows it: `always [madvise] never`."""
    return " ".join(f"[{v}]" if v == selected else v for v in offered) + "\n"


_SETUP = r"""
set -euo pipefail
bin=$1 tmpdir=$2 cmdfile=$3 ready=$4
shift 4
while (($#)); do
  mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$1" ||
    { echo "sandbox: cannot mount an overlay on $1" >&2; exit 1; }
  shift 3
done
# Per-mount flag only (bind): the host's /sys stays writable; this namespace's copy does not.
mount -o remount,bind,ro /sys || { echo "sandbox: cannot make /sys read-only" >&2; exit 1; }
export PATH="$bin:$PATH" TMPDIR="$tmpdir"
for tool in sysctl systemctl udevadm curl sudo; do
  [[ $(command -v "$tool") == "$bin/$tool" ]] ||
    { echo "sandbox: the $tool stand-in is not first on PATH" >&2; exit 1; }
done
: >"$ready"
exec bash -c "$(<"$cmdfile")"
"""

_PRELUDE = r'''
import json, re, sys
from pathlib import Path

STATE = Path(@STATE@)
LOG = Path(@LOG@)


def log(line):
    with LOG.open("a", encoding="utf-8") as f:
        f.write(line + "\n")


def fail(message, code=1):
    print(message, file=sys.stderr)
    sys.exit(code)
'''

_SYSCTL = r'''
VALUES = STATE / "sysctl.json"


def settings(path):
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        yield key.lstrip("-"), value, key.startswith("-")


def apply(path, values, strict):
    rc = 0
    for key, value, optional in settings(path):
        if key not in values:
            if strict and not optional:
                print(f"sysctl: cannot stat /proc/sys/{key.replace('.', '/')}: "
                      "No such file or directory", file=sys.stderr)
                rc = 255
            continue
        values[key] = "\t".join(value.split())
        print(f"{key} = {value}")
    return rc


args = sys.argv[1:]
log("sysctl " + " ".join(args))
values = json.loads(VALUES.read_text())
if args == ["--system"]:
    for conf in sorted(Path("/etc/sysctl.d").glob("*.conf")):
        print(f"* Applying {conf} ...")
        apply(conf, values, strict=False)
    rc = 0
elif len(args) == 2 and args[0] == "-p":
    if not Path(args[1]).is_file():
        fail(f'sysctl: cannot open "{args[1]}": No such file or directory', 255)
    rc = apply(args[1], values, strict=True)
elif len(args) == 2 and args[0] == "-n":
    if args[1] not in values:
        fail(f"sysctl: cannot stat /proc/sys/{args[1].replace('.', '/')}: "
             "No such file or directory", 255)
    print(values[args[1]])
    sys.exit(0)
else:
    fail(f"sysctl stand-in: unsupported arguments {args}", 2)
VALUES.write_text(json.dumps(values, indent=1, sort_keys=True))
sys.exit(rc)
'''

_SYSTEMCTL = r'''
ACTIVE = STATE / "active"


def bad_config(name):
    config = Path("/etc/rancher/k3s/config.yaml")
    return (name in ("k3s", "k3s-agent") and config.is_file()
            and "sandbox-fail-start: true" in config.read_text().splitlines())


args = sys.argv[1:]
log("systemctl " + " ".join(args))
verb = args[0] if args else ""
name = args[1].removesuffix(".service") if len(args) == 2 else ""
if verb in ("restart", "start") and name:
    if not Path(f"/etc/systemd/system/{name}.service").exists():
        fail(f"Failed to {verb} {name}.service: Unit {name}.service not found.", 5)
    (ACTIVE / name).unlink(missing_ok=True)
    if (STATE / "fail-restart").exists() or bad_config(name):
        fail(f"Job for {name}.service failed because the control process exited with error "
             f'code.\nSee "systemctl status {name}.service" and "journalctl -xeu '
             f'{name}.service" for details.')
    ACTIVE.mkdir(exist_ok=True)
    (ACTIVE / name).touch()
elif verb == "stop" and name:
    (ACTIVE / name).unlink(missing_ok=True)
elif verb == "is-active" and name:
    active = (ACTIVE / name).exists()
    print("active" if active else "inactive")
    sys.exit(0 if active else 3)
elif verb in ("enable", "disable") and name:
    # Remembered, so `is-enabled` answers as systemd would (enabled/<unit>, a test may set it).
    flag = STATE / "enabled" / name
    flag.parent.mkdir(exist_ok=True)
    flag.touch() if verb == "enable" else flag.unlink(missing_ok=True)
elif verb == "is-enabled" and name:
    enabled = (STATE / "enabled" / name).exists()
    print("enabled" if enabled else "disabled")
    sys.exit(0 if enabled else 1)
elif verb in ("daemon-reload", "enable", "disable"):
    pass
else:
    fail(f"systemctl stand-in: unsupported arguments {args}", 2)
'''

_UDEVADM = r'''
args = sys.argv[1:]
log("udevadm " + " ".join(args))
if (STATE / "udevadm-fail").exists():
    fail("Failed to send reload request: Connection refused (sandbox)")
if args != ["control", "--reload"]:
    fail(f"udevadm stand-in: unsupported arguments {args}", 2)
'''

_CURL = r'''
INSTALLER = Path(@INSTALLER@)
WITH_VALUE = {"-o", "--output", "--connect-timeout", "--max-time", "--retry", "--proto",
              "--retry-delay", "--retry-max-time"}

args = sys.argv[1:]
log("curl " + " ".join(args))
output, urls, i = None, [], 0
while i < len(args):
    if args[i] in WITH_VALUE:
        if args[i] in ("-o", "--output"):
            output = args[i + 1]
        i += 2
        continue
    if not args[i].startswith("-"):
        urls.append(args[i])
    i += 1
if len(urls) != 1:
    fail(f"curl stand-in: expected one URL, got {urls}", 2)
url = urls[0]
served = STATE / "urls" / url.replace("/", "%2F")
if served.is_file() and not (STATE / "curl-fail").exists():
    data = served.read_bytes()
    if output:
        Path(output).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
    sys.exit(0)
host = re.match(r"https?://([^/]+)", url)
if host is None or host.group(1) != "raw.githubusercontent.com":
    fail(f"curl: (6) Could not resolve host: {host.group(1) if host else url}", 6)
pinned = r"https://raw\.githubusercontent\.com/k3s-io/k3s/v\d+\.\d+\.\d+%2Bk3s\d+/install\.sh"
if (STATE / "curl-fail").exists() or not re.fullmatch(pinned, url):
    fail("curl: (22) The requested URL returned error: 404", 22)
data = INSTALLER.read_bytes()
if output:
    Path(output).write_bytes(data)
else:
    sys.stdout.buffer.write(data)
'''

_K3S = r'''
READY_QUERY = 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'
VERSION_QUERY = "jsonpath={.status.nodeInfo.kubeletVersion}"
MARK_QUERY = r"jsonpath={.metadata.annotations.sovereign-faas\.io/drained}"
NODE_QUERY = ("jsonpath={.status.nodeInfo.kubeletVersion}|{.spec.unschedulable}|"
              r"{.metadata.annotations.sovereign-faas\.io/drained}|"
              '{.status.conditions[?(@.type=="Ready")].status}')
PODS_QUERY = ('jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} '
              '{.metadata.ownerReferences[0].kind}{"\\n"}{end}')


def count(name):
    path = STATE / name
    n = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(n))
    return n


def number(name):
    path = STATE / name
    return int(path.read_text()) if path.exists() else 0


def text(name, default=""):
    path = STATE / name
    return path.read_text() if path.exists() else default


def node_or_fail(name):
    if not (STATE / "nodes" / name).exists():
        fail(f'Error from server (NotFound): nodes "{name}" not found')


def bounded(rest, flag):
    # Every call the scripts make must carry a client-side bound.
    if not any(a.startswith(flag) for a in rest):
        fail(f"k3s stand-in: kubectl call without {flag}", 2)
    return [a for a in rest if not a.startswith(flag)]


args = sys.argv[1:]
log("k3s " + " ".join(args))
if args == ["--version"]:
    print(f"k3s version {VERSION} (0123abcd)\ngo version go1.24.4")
    sys.exit(0)
if args[:1] != ["kubectl"]:
    fail(f"k3s stand-in: unsupported arguments {args}", 2)
verb = args[1] if len(args) > 1 else ""
if verb == "get":
    rest = bounded(args[2:], "--request-timeout=")
    if rest == ["--raw=/readyz"]:
        body = STATE / "readyz"
        if count("readyz.calls") <= number("readyz-refusals") or not body.exists():
            fail("The connection to the server 127.0.0.1:6443 was refused - "
                 "did you specify the right host or port?")
        sys.stdout.write(body.read_text())
        sys.exit(0)
    if len(rest) == 4 and rest[0] == "node" and rest[2] == "-o":
        name, query = rest[1], rest[3]
        node_or_fail(name)
        version = text(f"node-versions/{name}", VERSION)
        ready = text(f"nodes/{name}")
        mark = text(f"marks/{name}")
        unschedulable = "true" if (STATE / "unschedulable" / name).exists() else ""
        answers = {READY_QUERY: ready, VERSION_QUERY: version, MARK_QUERY: mark, "name": f"node/{name}",
                   NODE_QUERY: f"{version}|{unschedulable}|{mark}|{ready}"}
        if query in answers:
            sys.stdout.write(answers[query])
            sys.exit(0)
    if (len(rest) == 6 and rest[:2] == ["pods", "--all-namespaces"] and rest[2] == "--field-selector"
            and rest[3].startswith("spec.nodeName=") and rest[4:] == ["-o", PODS_QUERY]):
        sys.stdout.write(text(f"pods/{rest[3].split('=', 1)[1]}"))
        sys.exit(0)
if verb in ("cordon", "uncordon") and len(args) == 4:
    name = bounded(args[2:], "--request-timeout=")[0]
    node_or_fail(name)
    flag = STATE / "unschedulable" / name
    flag.parent.mkdir(exist_ok=True)
    flag.touch() if verb == "cordon" else flag.unlink(missing_ok=True)
    print(f"node/{name} {verb}ed")
    sys.exit(0)
if verb == "annotate":
    rest = [a for a in bounded(args[2:], "--request-timeout=") if a != "--overwrite"]
    if len(rest) == 3 and rest[0] == "node":
        name, change = rest[1], rest[2]
        node_or_fail(name)
        mark = STATE / "marks" / name
        mark.parent.mkdir(exist_ok=True)
        if change == "sovereign-faas.io/drained-":
            mark.unlink(missing_ok=True)
        elif change.startswith("sovereign-faas.io/drained=") and "--overwrite" in args:
            mark.write_text(change.split("=", 1)[1])
        else:
            fail(f"k3s stand-in: unsupported annotation {change}", 2)
        print(f"node/{name} annotated")
        sys.exit(0)
if verb == "drain" and len(args) == 6 and args[3:5] == ["--ignore-daemonsets", "--delete-emptydir-data"]:
    name = args[2]
    bounded(args[5:], "--timeout=")
    node_or_fail(name)
    if not (STATE / "unschedulable" / name).exists():
        fail("k3s stand-in: drain of a node that is not cordoned", 2)
    pods = text(f"pods/{name}").splitlines()
    stuck = (STATE / "drain-stuck" / name)
    if stuck.exists():
        for pod in stuck.read_text().split():
            ns, pod_name = pod.split("/")
            print(f'error when evicting pods/"{pod_name}" -n "{ns}" (will retry after 5s): Cannot evict '
                  "pod as it would violate the pod's disruption budget.", file=sys.stderr)
        fail(f'error: unable to drain node "{name}" due to error: client rate limiter Wait returned an '
             f"error: context deadline exceeded, continuing command...")
    kept = [line for line in pods if line.endswith(" DaemonSet")]
    (STATE / "pods").mkdir(exist_ok=True)
    (STATE / "pods" / name).write_text("".join(line + "\n" for line in kept))
    print(f"node/{name} drained")
    sys.exit(0)
if verb == "delete" and len(args) == 6 and args[2] == "node" and args[4] == "--ignore-not-found":
    name = args[3]
    bounded(args[5:], "--timeout=")
    for folder in ("nodes", "node-versions", "marks", "unschedulable", "pods"):
        (STATE / folder / name).unlink(missing_ok=True)
    print(f'node "{name}" deleted')
    sys.exit(0)
fail(f"k3s stand-in: unsupported arguments {args}", 2)
'''

# Like the real installer: binary, uninstall script, unit, then `systemctl restart`.
_INSTALLER = r"""#!/bin/sh
# Fake K3s installer served by the sandbox's curl stand-in.
set -e
fatal() { echo "[ERROR]  $*" >&2; exit 1; }
[ -n "${INSTALL_K3S_VERSION:-}" ] || fatal "INSTALL_K3S_VERSION is empty"
case "${INSTALL_K3S_EXEC:-}" in
  server) name=k3s ;;
  agent) name=k3s-agent ;;
  *) fatal "unexpected INSTALL_K3S_EXEC '${INSTALL_K3S_EXEC:-}'" ;;
esac
if [ "${INSTALL_K3S_SKIP_DOWNLOAD:-}" = true ]; then
  printf '%s\n' "install $INSTALL_K3S_VERSION $INSTALL_K3S_EXEC skip-download" >>@LOG@
  [ -x /usr/local/bin/k3s ] || fatal "Executable k3s binary not found at /usr/local/bin/k3s"
  mkdir -p /etc/systemd/system
else
printf '%s\n' "install $INSTALL_K3S_VERSION $INSTALL_K3S_EXEC" >>@LOG@
[ ! -e @STATE@/installer-fail ] || fatal "download of k3s $INSTALL_K3S_VERSION failed (sandbox)"
echo "[INFO]  Using $INSTALL_K3S_VERSION as release"
mkdir -p /usr/local/bin /etc/systemd/system
{ printf '#!%s -IS\nVERSION = "%s"\n' @PYTHON@ "$INSTALL_K3S_VERSION"; cat @K3S_BODY@; } \
  >/usr/local/bin/k3s
chmod 0755 /usr/local/bin/k3s
fi
sed "s/__NAME__/$name/g" @UNINSTALL@ >"/usr/local/bin/$name-uninstall.sh"
chmod 0755 "/usr/local/bin/$name-uninstall.sh"
printf '[Unit]\nDescription=Lightweight Kubernetes\n\n[Service]\nExecStart=/usr/local/bin/k3s %s\n' \
  "$INSTALL_K3S_EXEC" >"/etc/systemd/system/$name.service"
systemctl daemon-reload
systemctl enable "$name"
echo "[INFO]  systemd: Starting $name"
systemctl restart "$name"
"""

_UNINSTALL = r"""#!/bin/sh
# Fake K3s uninstall script, written by the fake installer (removes what the real one does).
set -e
printf '%s\n' "uninstall __NAME__" >>@LOG@
systemctl stop __NAME__
systemctl disable __NAME__
rm -f /etc/systemd/system/__NAME__.service
systemctl daemon-reload
rm -rf /etc/rancher/k3s /var/lib/rancher/k3s
rm -f /usr/local/bin/k3s /usr/local/bin/__NAME__-uninstall.sh
"""

# Runs inside the namespace: reports files as JSON (mode, type, base64 content).
_INSPECT = r"""
import base64, json, os, stat, sys
out = {}
for path in sys.argv[1:]:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        out[path] = None
        continue
    info = {"mode": stat.S_IMODE(st.st_mode), "dir": stat.S_ISDIR(st.st_mode)}
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            info["data"] = base64.b64encode(f.read()).decode()
    out[path] = info
print(json.dumps(out))
"""

_WRITE = r"""
import os, sys
path, mode = sys.argv[1], int(sys.argv[2], 8)
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "wb") as f:
    f.write(sys.stdin.buffer.read())
os.chmod(path, mode)
"""


class SandboxError(RuntimeError):
    """The sandbox itself could not be set up (as opposed to the command failing)."""


@dataclass(frozen=True)
class Result:
    command: str
    returncode: int
    stdout: str
    stderr: str
    stdout_bytes: bytes
    elapsed: float

    @property
    def last_line(self) -> str:
        lines = self.stdout.strip().splitlines()
        return lines[-1] if lines else ""

    def __str__(self) -> str:  # shown by pytest when an assertion on a Result fails
        return (f"exit {self.returncode} after {self.elapsed:.2f}s\n"
                f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}")


@dataclass(frozen=True)
class FileInfo:
    mode: int
    is_dir: bool
    data: bytes | None  # None for directories and other non-regular files


class Sandbox:
    """One simulated host: overlay layers, stand-ins, state and call log under `root`."""

    def __init__(self, root: Path, netns: str | None = None) -> None:
        self.root = root
        self.netns = netns  # a named network namespace (`ip netns add`) the runs happen in
        self.bin = root / "bin"
        self.state = root / "state"
        self.log = root / "calls.log"
        self.tmp = root / "tmp"  # TMPDIR inside the sandbox: leaked temp files show up here
        self.fixtures = root / "fixtures"
        self.commands = root / "commands"
        self.layers = {
            target: (root / "layers" / target.strip("/").replace("/", "-") / "upper",
                     root / "layers" / target.strip("/").replace("/", "-") / "work")
            for target in OVERLAID
        }
        for path in (self.bin, self.state / "nodes", self.tmp, self.fixtures, self.commands,
                     *(p for pair in self.layers.values() for p in pair)):
            path.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        self.sysctl = DEFAULT_SYSCTL
        self.sysfs = self.state / "sys"  # SOVEREIGN_FAAS_SYSFS inside the sandbox
        self._sysfs: dict[str, dict[str, object]] = {}
        for path, (offered, selected) in DEFAULT_SYSFS.items():
            self.set_sysfs(path, offered, selected)
        self._runs = 0
        self._write_stand_ins()
        # As root the mount namespace is enough; otherwise map ourselves to root in a new user
        # namespace (needs unprivileged user namespaces and overlayfs in them, Linux 5.11+).
        self._unshare = ["unshare", "-m", "--propagation", "private"]
        if os.geteuid() != 0:
            self._unshare.insert(1, "-r")

    # --- stand-ins -------------------------------------------------------------------------

    def _bake(self, text: str, quote: Callable[[str], str]) -> str:
        """Replace @TOKEN@ placeholders with this sandbox's paths, quoted for the language."""
        for token, value in (("@STATE@", self.state), ("@LOG@", self.log),
                             ("@INSTALLER@", self.fixtures / "install.sh"),
                             ("@K3S_BODY@", self.fixtures / "k3s.py"),
                             ("@UNINSTALL@", self.fixtures / "uninstall.sh"),
                             ("@PYTHON@", sys.executable)):
            text = text.replace(token, quote(str(value)))
        return text

    def _write_stand_ins(self) -> None:
        # -I: ignore the caller's environment and user site; -S: no site import (faster).
        for name, body in (("sysctl", _SYSCTL), ("systemctl", _SYSTEMCTL), ("udevadm", _UDEVADM),
                           ("curl", _CURL)):
            tool = self.bin / name
            tool.write_text(f"#!{sys.executable} -IS\n" + self._bake(_PRELUDE + body, repr))
            tool.chmod(0o755)
        # sudo: the rendered command for a non-root SSH user starts with `sudo -n bash -c ...`.
        # The stand-in logs it, insists on -n (never prompt) and runs the rest with PATH kept,
        # so the stand-ins above still answer (the real sudo would reset PATH to the host's).
        sudo = self.bin / "sudo"
        sudo.write_text(
            "#!/bin/bash\n"
            f"printf 'sudo %s\\n' \"$*\" >>{shlex.quote(str(self.log))}\n"
            '[[ $1 == -n ]] || { echo "sudo stand-in: expected -n first" >&2; exit 1; }\n'
            'shift\nexec "$@"\n'
        )
        sudo.chmod(0o755)
        # The k3s body gets its shebang and VERSION line from the fake installer.
        (self.fixtures / "k3s.py").write_text(self._bake(_PRELUDE + _K3S, repr))
        for name, text in (("install.sh", _INSTALLER), ("uninstall.sh", _UNINSTALL)):
            (self.fixtures / name).write_text(self._bake(text, shlex.quote))

    # --- state and log ---------------------------------------------------------------------

    @property
    def sysctl(self) -> dict[str, str]:
        """The live values of the simulated kernel."""
        return json.loads((self.state / "sysctl.json").read_text())

    @sysctl.setter
    def sysctl(self, values: dict[str, str]) -> None:
        (self.state / "sysctl.json").write_text(json.dumps(values, indent=1, sort_keys=True))

    # --- stand-in sysfs ---------------------------------------------------------------------

    def set_sysfs(self, path: str, offered: tuple[str, ...] | list[str], selected: str) -> None:
        """Create or reset the stand-in choice file `path` (relative to the sysfs root)."""
        assert selected in offered, (path, offered, selected)
        file = self.sysfs / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(choice_text(offered, selected))
        self._sysfs[path] = {"offered": list(offered), "selected": selected,
                             "mtime": file.stat().st_mtime_ns}

    def remove_sysfs(self, path: str) -> None:
        """Take a stand-in file away (a kernel without that feature, a detached disk)."""
        (self.sysfs / path).unlink()
        del self._sysfs[path]

    def sysfs_value(self, path: str) -> str:
        """The selected value of stand-in file `path`, as the kernel would show it."""
        return str(self._sysfs[path]["selected"])

    def sysfs_text(self, path: str) -> str:
        return (self.sysfs / path).read_text()

    def sysfs_values(self) -> dict[str, str]:
        return {path: self.sysfs_value(path) for path in sorted(self._sysfs)}

    def _settle_sysfs(self) -> None:
        """Play the kernel after a run: log each write and show the file in choice format."""
        for path in sorted(self._sysfs):
            entry, file = self._sysfs[path], self.sysfs / path
            text = file.read_text()
            if "[" in text and file.stat().st_mtime_ns == entry["mtime"]:
                continue  # not written
            value = text.strip()
            offered = [str(v) for v in entry["offered"]]  # type: ignore[attr-defined]
            if value in offered:
                self._log(f"sysfs {path} {value}")
                entry["selected"] = value
            else:
                self._log(f"sysfs {path} {value} (rejected)")
            file.write_text(choice_text(offered, str(entry["selected"])))
            entry["mtime"] = file.stat().st_mtime_ns

    def _log(self, line: str) -> None:
        with self.log.open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    def set_state(self, name: str, text: str = "") -> None:
        path = self.state / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def serve(self, url: str, data: str | bytes) -> None:
        """Make the curl stand-in answer `url` with `data` (a mirror's file)."""
        path = self.state / "urls" / url.replace("/", "%2F")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)

    def k3s_binary(self, version: str) -> bytes:
        """A stand-in K3s binary reporting `version`, as a release asset would carry it."""
        body = (self.fixtures / "k3s.py").read_bytes()
        return f'#!{sys.executable} -IS\nVERSION = "{version}"\n'.encode() + body

    def installer(self) -> bytes:
        """The fake installer's text (what a mirror's install.sh holds in the tests)."""
        return (self.fixtures / "install.sh").read_bytes()

    def clear_state(self, name: str) -> None:
        (self.state / name).unlink(missing_ok=True)

    def calls(self, prefix: str = "") -> list[str]:
        """Logged calls, oldest first, optionally only those starting with `prefix`."""
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [line for line in lines if line.startswith(prefix)]

    def clear_calls(self) -> None:
        self.log.write_text("")

    # --- running ---------------------------------------------------------------------------

    def run(self, command: str, stdin: str | bytes = b"", timeout: float = 60) -> Result:
        """Run `bash -c command` inside a fresh namespace over this sandbox's layers.

        Raises SandboxError if the namespace or the overlays could not be set up; the
        command's own failure is a Result with a non-zero returncode.
        """
        self._runs += 1
        cmdfile = self.commands / f"{self._runs:03d}.sh"
        ready = self.commands / f"{self._runs:03d}.ready"
        cmdfile.write_text(command)
        mounts = [str(p) for target, (upper, work) in self.layers.items()
                  for p in (target, upper, work)]
        # In a named network namespace, nft and the sockets see only that namespace's
        # ruleset and interfaces; it outlives each run, like a host's does.
        netns = ["ip", "netns", "exec", self.netns] if self.netns else []
        argv = [*netns, *self._unshare, "bash", "-c", _SETUP, "sandbox-setup",
                str(self.bin), str(self.tmp), str(cmdfile), str(ready), *mounts]
        data = stdin.encode() if isinstance(stdin, str) else stdin
        env = {"PATH": LOGIN_PATH, "HOME": "/root", "LANG": "C.UTF-8",
               "SOVEREIGN_FAAS_SYSFS": str(self.sysfs)}
        start = time.monotonic()
        # Own process group, so a timeout can end everything this run started (and only it).
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True)
        try:
            out, err = proc.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise AssertionError(
                f"sandbox command still running after {timeout}s; stderr so far:\n"
                f"{err.decode(errors='replace')}") from None
        elapsed = time.monotonic() - start
        self._settle_sysfs()
        stderr = err.decode(errors="replace")
        if not ready.exists():
            raise SandboxError(f"sandbox setup failed (exit {proc.returncode}): {stderr.strip()}")
        return Result(command, proc.returncode, out.decode(errors="replace"), stderr, out,
                      elapsed)

    def files(self, *paths: str) -> dict[str, FileInfo | None]:
        """Mode and content of `paths` as the sandbox sees them (None: absent)."""
        cmd = shlex.join([sys.executable, "-IS", "-c", _INSPECT, *paths])
        result = self.run(cmd)
        if result.returncode != 0:
            raise SandboxError(f"inspecting {paths} failed: {result.stderr}")
        return {
            path: None if info is None else FileInfo(
                info["mode"], info["dir"],
                base64.b64decode(info["data"]) if "data" in info else None)
            for path, info in json.loads(result.stdout).items()
        }

    def read(self, path: str) -> bytes | None:
        info = self.files(path)[path]
        return None if info is None else info.data

    def mode(self, path: str) -> int | None:
        info = self.files(path)[path]
        return None if info is None else info.mode

    def write(self, path: str, data: str | bytes, mode: int = 0o644) -> None:
        """Create `path` (and its parents) inside the sandbox."""
        cmd = shlex.join([sys.executable, "-IS", "-c", _WRITE, path, f"{mode:o}"])
        result = self.run(cmd, stdin=data)
        if result.returncode != 0:
            raise SandboxError(f"writing {path} failed: {result.stderr}")


def open_sandbox(root: Path, netns: str | None = None) -> Sandbox:
    """A Sandbox under `root`, checked once; for use in a pytest fixture.

    As root a sandbox that cannot be set up fails the test (it should always work, and a
    silent skip would hide that nothing ran); as another user it skips with the reason.
    """
    import pytest

    as_root = os.geteuid() == 0
    if shutil.which("unshare") is None:
        message = "util-linux `unshare` is not installed"
        pytest.fail(message) if as_root else pytest.skip(message)
    sandbox = Sandbox(root, netns)
    try:
        sandbox.run("true", timeout=30)
    except SandboxError as exc:
        if as_root:
            pytest.fail(f"sandbox setup failed as root: {exc}")
        pytest.skip(f"no mount namespace with overlayfs for this user: {exc}")
    return sandbox
