"""A real single-node Slurm cluster on localhost, started from a temporary folder.

Why: the Slurm executor must be tested against real `sbatch`/`sacct`/`scancel`, not a mock,
and users should be able to try it without a cluster. This module starts, in one folder,

    munged      (its own key and socket)
    mariadbd    (a private data folder, TCP on a free localhost port)
    slurmdbd    (accounting: without it submitit cannot tell that a cancelled or killed
                 job has ended, and would wait forever)
    slurmctld + slurmd  (one node, the machine's CPUs, ProctrackType=proctrack/linuxproc,
                 TaskPlugin=task/none, SelectType=select/cons_tres: no cgroups needed)

and stops each daemon by its own PID. Needs the Debian packages
`slurm-wlm slurmdbd munge mariadb-server` (see `scripts/install.sh`) and root (the daemons
run as the current user, which must be able to start jobs as itself).

    with LocalSlurmCluster() as cluster:      # sets SLURM_CONF in os.environ while open
        ...  # sbatch / submitit.SlurmExecutor work here

or from the shell: `cubeworld study slurm-up FOLDER` (prints the `export SLURM_CONF=...`
line) and `cubeworld study slurm-down FOLDER`.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cubeworld.errors import CubeworldError

DAEMON_BINARIES = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd")
CLIENT_BINARIES = ("sbatch", "sacct", "squeue", "scancel", "sinfo", "scontrol")
DEBIAN_PACKAGES = "slurm-wlm slurmdbd munge mariadb-server"


class SlurmClusterError(CubeworldError):
    """The local cluster could not be started; the message says which daemon and why."""


def _find(name: str) -> str | None:
    for d in (None, "/usr/sbin", "/usr/bin", "/sbin"):
        found = shutil.which(name) if d is None else shutil.which(name, path=d)
        if found:
            return found
    return None


def _which(name: str) -> str:
    """The path of a Slurm/munge program (the cluster is only started where `_find` found them all)."""
    found = _find(name)
    if found is None:
        raise SlurmClusterError(f"{name}: not installed")
    return found


def missing_binaries() -> list[str]:
    """Slurm/munge/MariaDB programs this machine lacks (empty when a cluster can start)."""
    return [b for b in DAEMON_BINARIES + CLIENT_BINARIES + ("mariadb-install-db",) if not _find(b)]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 4096


@dataclass
class LocalSlurmCluster:
    """Start/stop a one-node Slurm cluster with accounting under `root` (a temp folder by default).

    `cpus` / `memory_mb` default to the machine's; `start_timeout` bounds every wait so a
    daemon that does not come up fails with its log tail, never hangs.
    """

    root: Path | None = None
    cpus: int | None = None
    memory_mb: int | None = None
    start_timeout: float = 60.0
    cluster_name: str = "cubeworld"
    pids: dict[str, int] = field(default_factory=dict)
    _own_root: bool = False
    _old_conf: str | None = None

    # -- paths -------------------------------------------------------------------------
    @property
    def conf(self) -> Path:
        assert self.root is not None
        return self.root / "etc" / "slurm.conf"

    @property
    def munge_socket(self) -> Path:
        assert self.root is not None
        return self.root / "munge" / "munge.socket"

    @property
    def env(self) -> dict[str, str]:
        """Environment variables for Slurm client commands (sbatch, sacct, ...)."""
        return {"SLURM_CONF": str(self.conf)}

    # -- start -------------------------------------------------------------------------
    def start(self) -> LocalSlurmCluster:
        missing = missing_binaries()
        if missing:
            raise SlurmClusterError(
                f"cannot start a local Slurm cluster: missing {', '.join(missing)}; install "
                f"the Debian packages: apt-get install -y --no-install-recommends {DEBIAN_PACKAGES}"
            )
        if self.root is None:
            # Short path: munge's socket path must fit in a sockaddr_un (108 bytes).
            self.root = Path(tempfile.mkdtemp(prefix="cwslurm-", dir="/tmp"))
            self._own_root = True
        self.root = Path(self.root).resolve()
        for sub in ("etc", "munge", "log", "run", "state", "spool", "db", "jobs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._open_parents()
        try:
            self._start_munge()
            self._start_mariadb()
            self._write_confs()
            self._start_slurmdbd()
            self._start_slurmctld()
            self._start_slurmd()
            self._wait_idle()
        except BaseException:
            self.stop()
            raise
        self._old_conf = os.environ.get("SLURM_CONF")
        os.environ["SLURM_CONF"] = str(self.conf)
        (self.root / "cluster.json").write_text(json.dumps({"pids": self.pids}, indent=2))
        return self

    def __enter__(self) -> LocalSlurmCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _open_parents(self) -> None:
        """o+x on every folder above munge's socket, so job steps can reach it."""
        assert self.root is not None
        p = self.munge_socket.parent
        while True:
            mode = p.stat().st_mode
            if not mode & stat.S_IXOTH:
                os.chmod(p, mode | stat.S_IXOTH)
            if p.parent == p:
                break
            p = p.parent

    def _log(self, name: str) -> Path:
        assert self.root is not None
        return self.root / "log" / f"{name}.log"

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> int:
        log = open(self._log(name), "ab")
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        log.close()
        self.pids[name] = proc.pid
        self._procs = getattr(self, "_procs", {})
        self._procs[name] = proc
        return proc.pid

    def _fail(self, name: str, why: str) -> SlurmClusterError:
        tail = ""
        log = self._log(name)
        if log.exists():
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        return SlurmClusterError(f"local Slurm cluster: {name} {why}\n--- {log} ---\n{tail}")

    def _wait(self, name: str, ready, what: str) -> None:
        deadline = time.monotonic() + self.start_timeout
        proc = getattr(self, "_procs", {}).get(name)
        while time.monotonic() < deadline:
            if ready():
                return
            if proc is not None and proc.poll() is not None:
                raise self._fail(name, f"exited with code {proc.returncode} before {what}")
            time.sleep(0.1)
        raise self._fail(name, f"did not {what} within {self.start_timeout:.0f} s")

    def _start_munge(self) -> None:
        assert self.root is not None
        key = self.root / "munge" / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o600)
        os.chmod(self.root / "munge", 0o755)
        self._spawn(
            "munged",
            [
                _which("munged"),
                "--foreground",
                "--force",
                f"--key-file={key}",
                f"--socket={self.munge_socket}",
                f"--pid-file={self.root / 'run' / 'munged.pid'}",
                f"--log-file={self._log('munged.internal')}",
                f"--seed-file={self.root / 'munge' / 'munge.seed'}",
            ],
        )
        self._wait("munged", self.munge_socket.exists, "create its socket")

    def _start_mariadb(self) -> None:
        assert self.root is not None
        data = self.root / "db" / "data"
        user = getpass.getuser()
        if not (data / "mysql").exists():
            r = subprocess.run(
                [
                    _which("mariadb-install-db"),
                    f"--datadir={data}",
                    f"--user={user}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    "--skip-name-resolve",
                ],
                capture_output=True,
                text=True,
            )
            if r.returncode != 0:
                raise SlurmClusterError(f"mariadb-install-db failed:\n{r.stdout}\n{r.stderr}")
        self.db_port = _free_port()
        self.db_socket = self.root / "db" / "mysqld.sock"
        self._spawn(
            "mariadbd",
            [
                _which("mariadbd"),
                "--no-defaults",
                f"--datadir={data}",
                f"--user={user}",
                f"--port={self.db_port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.db_socket}",
                f"--pid-file={self.root / 'run' / 'mariadbd.pid'}",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=64M",
                "--skip-log-bin",
            ],
        )
        self._wait("mariadbd", lambda: _port_open(self.db_port), "accept connections")

    def _write_confs(self) -> None:
        assert self.root is not None
        r = self.root
        user = getpass.getuser()
        cpus = self.cpus or os.cpu_count() or 1
        mem = self.memory_mb or max(512, _memory_mb() - 1024)
        self.ctld_port, self.slurmd_port, self.dbd_port = _free_port(), _free_port(), _free_port()
        host = socket.gethostname().split(".")[0]
        self.node = host
        auth = f"socket={self.munge_socket}"
        slurm_conf = f"""\
# Written by cubeworld.experiments.testing.slurm_cluster: a one-node test cluster.
ClusterName={self.cluster_name}
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={self.ctld_port}
SlurmdPort={self.slurmd_port}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
AuthInfo={auth}
CredType=cred/munge
StateSaveLocation={r / "state"}
SlurmdSpoolDir={r / "spool"}
SlurmctldPidFile={r / "run" / "slurmctld.pid"}
SlurmdPidFile={r / "run" / "slurmd.pid"}
SlurmctldLogFile={self._log("slurmctld.internal")}
SlurmdLogFile={self._log("slurmd.internal")}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={self.dbd_port}
AccountingStoragePass={self.munge_socket}
JobCompType=jobcomp/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
SchedulerParameters=sched_interval=1
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""
        dbd_conf = f"""\
AuthType=auth/munge
AuthInfo={auth}
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={self.dbd_port}
SlurmUser={user}
PidFile={r / "run" / "slurmdbd.pid"}
LogFile={self._log("slurmdbd.internal")}
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={self.db_port}
StorageUser=root
StorageLoc=slurm_acct_db
"""
        self.conf.write_text(slurm_conf)
        dbd = self.conf.parent / "slurmdbd.conf"
        dbd.write_text(dbd_conf)
        os.chmod(dbd, 0o600)

    def _env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def _start_slurmdbd(self) -> None:
        self._spawn("slurmdbd", [_which("slurmdbd"), "-D"], self._env())
        self._wait("slurmdbd", lambda: _port_open(self.dbd_port), "listen")

    def _start_slurmctld(self) -> None:
        self._spawn("slurmctld", [_which("slurmctld"), "-D", "-i"], self._env())
        self._wait("slurmctld", lambda: _port_open(self.ctld_port), "listen")

    def _start_slurmd(self) -> None:
        self._spawn("slurmd", [_which("slurmd"), "-D", "-N", self.node], self._env())

    def _wait_idle(self) -> None:
        def idle() -> bool:
            r = subprocess.run(
                [_which("sinfo"), "-h", "-o", "%t"], capture_output=True, text=True, env={**os.environ, **self._env()}
            )
            return r.returncode == 0 and r.stdout.strip() in ("idle", "mix", "alloc")

        self._wait("slurmd", idle, "bring the node to idle")

        # The cluster must be known to accounting before jobs are recorded.
        def registered() -> bool:
            r = subprocess.run(
                [_find("sacctmgr") or "sacctmgr", "-n", "-P", "list", "cluster", "format=cluster"],
                capture_output=True,
                text=True,
                env={**os.environ, **self._env()},
            )
            return self.cluster_name in r.stdout

        self._wait("slurmctld", registered, "register the cluster with slurmdbd")

    # -- stop --------------------------------------------------------------------------
    def _drain(self) -> None:
        _drain(self.conf)

    def stop(self) -> None:
        """Stop the daemons (reverse order), each by its own PID; remove a temp root."""
        procs = getattr(self, "_procs", {})
        if "slurmd" in self.pids:
            self._drain()
        for name in reversed(list(self.pids)):
            pid = self.pids[name]
            proc = procs.get(name)
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if proc is not None and proc.poll() is not None:
                    break
                if proc is None and not _alive(pid):
                    break
                time.sleep(0.05)
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                if proc is not None:
                    proc.wait(timeout=5)
        self.pids.clear()
        if self._old_conf is None:
            if os.environ.get("SLURM_CONF") == str(self.conf if self.root else ""):
                os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = self._old_conf
        if self._own_root and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _drain(conf: Path, timeout: float = 30.0) -> None:
    """Cancel every job of the cluster and wait until the queue is empty, so that no job
    step (slurmstepd, which outlives slurmd) is left behind."""
    env = {**os.environ, "SLURM_CONF": str(conf)}
    try:
        subprocess.run([_which("scancel"), "--user", getpass.getuser()], capture_output=True, env=env, timeout=30)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = subprocess.run(
                [_which("squeue"), "-h", "-o", "%i"], capture_output=True, text=True, env=env, timeout=30
            )
            if r.returncode != 0 or not r.stdout.strip():
                return
            time.sleep(0.2)
    except (OSError, subprocess.TimeoutExpired):
        return


def stop_by_pid_file(root: str | Path) -> list[str]:
    """Stop a cluster started by `cubeworld study slurm-up ROOT` (its `cluster.json`)."""
    info = json.loads((Path(root) / "cluster.json").read_text())
    _drain(Path(root) / "etc" / "slurm.conf")
    stopped = []
    for name, pid in reversed(list(info["pids"].items())):
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
            stopped.append(name)
    return stopped
