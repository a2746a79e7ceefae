"""The real storage servers of tests.support.servers: start, round-trip through the proxy, stop.

Each server starts once for this module; every test checks something a storage test or
the benchmark relies on (ports on 127.0.0.1 only, nothing left behind, SDK clients that
really go where they are pointed).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import servers
from tests.support.proxy import RecordingProxy
from tests.support.servers import (
    AzuriteServer,
    ExternalS3Server,
    FakeGcsServer,
    MotoServer,
    SeaweedServer,
    ServerError,
    StorageServer,
)

ON_LINUX = sys.platform == "linux"
FACTORIES: dict[str, type[StorageServer]] = {
    "moto": MotoServer,
    "seaweedfs": SeaweedServer,
    "gcs": FakeGcsServer,
    "azure": AzuriteServer,
}


@pytest.fixture(scope="module", autouse=True)
def _quiet_gcs_client() -> Iterator[None]:
    # google-cloud-storage 3.x fetches bucket metadata in a background thread; that
    # extra buckets.get would make request counts racy.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA", "true")
        yield


@pytest.fixture(scope="module")
def running() -> Iterator[dict[str, StorageServer]]:
    """All four servers, started in parallel (Azurite's Node start-up dominates)."""
    started: dict[str, StorageServer] = {name: cls() for name, cls in FACTORIES.items()}
    errors: list[BaseException] = []

    def start(server: StorageServer) -> None:
        try:
            server.start()
        except BaseException as exc:  # reported below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in started.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        if errors:
            raise errors[0]
        yield started
    finally:
        processes = [s.process for s in started.values() if s.process is not None]
        for server in started.values():
            server.stop()
        assert all(p.poll() is not None for p in processes)


def _listening_sockets_of(pid: int) -> set[tuple[str, int]]:
    """(hex address, port) of every TCP socket ``pid`` listens on (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and fields[9] in inodes:
                found.add((address, int(hex_port, 16)))
    return found


def _round_trip(server: StorageServer, endpoint: str, bucket: str) -> tuple[bytes, list[str]]:
    """Write two objects, read one back and list, with the server's own SDK."""
    if server.kind == "s3":
        s3 = server.client(endpoint)
        s3.put_object(Bucket=bucket, Key="css/a.css", Body=b"body{}")
        s3.put_object(Bucket=bucket, Key="js/b.js", Body=b"1;")
        body = s3.get_object(Bucket=bucket, Key="css/a.css")["Body"].read()
        listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    elif server.kind == "gcs":
        gcs = server.client(endpoint)
        gbucket = gcs.bucket(bucket)
        gbucket.blob("css/a.css").upload_from_string(b"body{}")
        gbucket.blob("js/b.js").upload_from_string(b"1;")
        body = gbucket.blob("css/a.css").download_as_bytes()
        listed = [b.name for b in gcs.list_blobs(bucket)]
    else:
        container = server.client(endpoint).get_container_client(bucket)
        container.upload_blob("css/a.css", b"body{}")
        container.upload_blob("js/b.js", b"1;")
        body = container.download_blob("css/a.css").readall()
        listed = [b.name for b in container.list_blobs()]
    return body, sorted(listed)


EXPECTED_OPS = {
    "s3": {"PutObject": 2, "GetObject": 1, "ListObjectsV2": 1},
    "gcs": {"objects.insert": 2, "objects.download": 1, "objects.list": 1},
    "azure": {"PutBlob": 2, "GetBlob": 1, "ListBlobs": 1},
}


@pytest.mark.parametrize("name", list(FACTORIES))
def test_round_trip_through_proxy(running: dict[str, StorageServer], name: str) -> None:
    server = running[name]
    assert server.endpoint.startswith("http://127.0.0.1:")
    assert server.process is not None
    if ON_LINUX:
        listening = _listening_sockets_of(server.process.pid)
        assert ("0100007F", server.port) in listening
        assert {address for address, _port in listening} == {"0100007F"}  # 127.0.0.1 only
    bucket = f"rt-{name}"
    server.create_bucket(bucket)
    with RecordingProxy(server.endpoint, flavor=server.kind) as proxy:
        body, listed = _round_trip(server, proxy.endpoint, bucket)
    assert body == b"body{}"
    assert listed == ["css/a.css", "js/b.js"]
    # Every request went through the proxy: none bypassed it, none is unaccounted for.
    assert dict(proxy.counts) == EXPECTED_OPS[server.kind]
    assert all(200 <= status < 300 for *_, status in proxy.records)


@pytest.mark.skipif(not ON_LINUX, reason="reads /proc")
def test_seaweed_binds_every_port_to_loopback(running: dict[str, StorageServer]) -> None:
    server = running["seaweedfs"]
    assert isinstance(server, SeaweedServer)
    assert len(set(server.ports.values())) == len(server.ports) == 10
    # Each pinned port listens on 127.0.0.1, and nothing else does (no default port left
    # unpinned, no 0.0.0.0).
    assert server.process is not None
    expected = {("0100007F", port) for port in server.ports.values()}
    assert _listening_sockets_of(server.process.pid) == expected


def test_seaweed_stop_leaves_nothing_behind() -> None:
    server = SeaweedServer().start()
    process, tempdir, ports = server.process, server.tempdir, dict(server.ports)
    assert process is not None and tempdir is not None
    temp_folders = {Path(tempfile.gettempdir()), Path("/tmp")}

    def grpc_sockets(port: int) -> list[Path]:
        return [p for d in temp_folders for p in d.glob(f"seaweedfs-*-grpc-{port}.sock")]

    # weed puts its gRPC sockets into the system temp folder while it runs.
    deadline = time.monotonic() + 5
    while not grpc_sockets(ports["s3.port.grpc"]):
        assert time.monotonic() < deadline, "expected weed's gRPC socket in the temp folder"
        time.sleep(0.05)
    server.stop()
    assert process.poll() is not None
    assert not tempdir.exists()
    for port in ports.values():
        assert not grpc_sockets(port)
    # glog writes weed.INFO & co. into the temp folder unless told otherwise.
    for folder in temp_folders:
        assert not [p for p in folder.glob("weed.*") if str(process.pid) in p.name]


def test_gcs_client_from_storage_emulator_host(
    running: dict[str, StorageServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """django-storages' GoogleCloudStorage finds the emulator through this variable."""
    from google.cloud import storage

    server = running["gcs"]
    server.create_bucket("emulator-env")
    with RecordingProxy(server.endpoint, flavor="gcs") as proxy:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.endpoint)
        client = storage.Client(project="test")
        client.bucket("emulator-env").blob("x.txt").upload_from_string(b"x")
        assert client.bucket("emulator-env").blob("x.txt").download_as_bytes() == b"x"
    assert proxy.counts["objects.insert"] == 1
    assert proxy.counts["objects.download"] == 1


def test_azure_connection_string(running: dict[str, StorageServer]) -> None:
    from azure.storage.blob import BlobServiceClient

    server = running["azure"]
    assert isinstance(server, AzuriteServer)
    assert f"BlobEndpoint={server.endpoint}/devstoreaccount1;" in server.connection_string
    server.create_bucket("conn-string")
    client = BlobServiceClient.from_connection_string(server.connection_string)
    names = [c.name for c in client.list_containers()]
    assert "conn-string" in names


def test_explicit_s3_endpoint_beats_aws_endpoint_url(
    running: dict[str, StorageServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """localstack-client alone would send this client to $AWS_ENDPOINT_URL."""
    server = running["moto"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port
    server.create_bucket("explicit-endpoint")
    assert "explicit-endpoint" in [b["Name"] for b in server.client().list_buckets()["Buckets"]]


def test_environment_selects_an_existing_s3(
    running: dict[str, StorageServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """LOCALSTACK_HOST / AWS_ENDPOINT_URL point the suite at a server somebody else runs."""
    moto = running["moto"]
    with RecordingProxy(moto.endpoint) as proxy:
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        monkeypatch.setenv("LOCALSTACK_HOST", f"127.0.0.1:{proxy.port}")
        external = servers.s3_server_from_env()
        assert isinstance(external, ExternalS3Server)
        assert external.endpoint == proxy.endpoint
        with external:
            external.create_bucket("external-one")
        monkeypatch.delenv("LOCALSTACK_HOST")
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        servers.s3_client().head_bucket(Bucket="external-one")
    assert proxy.counts == {"CreateBucket": 1, "HeadBucket": 1}
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert isinstance(servers.s3_server_from_env(), MotoServer)


def test_context_manager_and_idempotent_stop() -> None:
    with MotoServer() as server:
        process = server.process
        assert process is not None and server.running
        assert server.start() is server  # already running: no second process
        assert server.process is process
        server.create_bucket("ctx-bucket")
        server.reset()
        assert server.client().list_buckets()["Buckets"] == []
    assert process.poll() is not None
    assert not server.running
    server.stop()  # a second stop is harmless
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1)


def test_start_failure_reports_the_log_tail() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        server = FakeGcsServer(port=port)  # a fixed port is not retried
        with pytest.raises(ServerError, match="address already in use"):
            server.start()
    assert server.process is None and server.tempdir is None


def test_atexit_safety_net_kills_forgotten_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeGcsServer().start()
    process = server.process
    assert process is not None
    # Only this server: the module's shared servers are registered as live too.
    monkeypatch.setattr(servers, "_live", {server})
    servers._kill_leftovers()
    assert process.poll() is not None
    assert not servers._live
    assert server.tempdir is None


def test_azurite_installs_once_under_a_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parallel workers share one npm install; a present install is not repeated."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    fake_npm = bin_dir / "npm"
    # A stand-in for npm that is slow enough for the workers to collide.
    fake_npm.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {calls}\n'
        "sleep 0.3\n"
        'prefix="$3"\n'
        'mkdir -p "$prefix/node_modules/.bin" "$prefix/node_modules/azurite"\n'
        'echo \'{"version": "9.9.9"}\' > "$prefix/node_modules/azurite/package.json"\n'
        'touch "$prefix/node_modules/.bin/azurite-blob"\n'
    )
    fake_npm.chmod(fake_npm.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv(servers.AZURITE_PREFIX_ENV, str(tmp_path / "prefix"))
    assert servers.azurite_prefix() == tmp_path / "prefix"

    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(servers.ensure_azurite(version="9.9.9")))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    assert set(results) == {tmp_path / "prefix" / "node_modules" / ".bin" / "azurite-blob"}
    invocations = calls.read_text().splitlines()
    assert invocations == [
        f"install --prefix {tmp_path / 'prefix'} --no-audit --no-fund --save-exact "
        "--loglevel=error azurite@9.9.9"
    ]
    # A different pinned version triggers a new install (which fails here: the
    # stand-in always writes 9.9.9, so the result is checked, not trusted).
    with pytest.raises(ServerError):
        servers.ensure_azurite(version="1.0.0")
    assert len(calls.read_text().splitlines()) == 2


def test_server_logs_stay_out_of_the_terminal(capfd: pytest.CaptureFixture[str]) -> None:
    with MotoServer() as server:
        urllib.request.urlopen(f"{server.endpoint}/", timeout=5).read()
        log = server.log_path
        assert log is not None
        deadline = time.monotonic() + 5
        while b"GET / " not in log.read_bytes():  # werkzeug's access log line
            assert time.monotonic() < deadline
            time.sleep(0.05)
    out, err = capfd.readouterr()
    assert "GET / " not in out + err


def test_large_upload_round_trip_on_seaweed(running: dict[str, StorageServer]) -> None:
    """SeaweedFS checks SigV4 (including the streamed payload) on a multipart upload."""
    server = running["seaweedfs"]
    server.create_bucket("large")
    payload = os.urandom(12 * 1024 * 1024)
    with RecordingProxy(server.endpoint) as proxy:
        client = server.client(proxy.endpoint)
        client.upload_fileobj(io.BytesIO(payload), "large", "big.bin")
        assert client.get_object(Bucket="large", Key="big.bin")["Body"].read() == payload
    assert proxy.counts["CreateMultipartUpload"] == 1
    assert proxy.counts["CompleteMultipartUpload"] == 1


@pytest.mark.skipif(not ON_LINUX, reason="PR_SET_PDEATHSIG is Linux-only")
def test_server_dies_with_the_process_that_started_it() -> None:
    """A test run killed with SIGKILL (CI timeout) must not leave servers behind."""
    code = (
        "from tests.support.servers import FakeGcsServer\n"
        "server = FakeGcsServer().start()\n"
        "print(server.process.pid, server.tempdir, flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=servers.REPO
    )
    assert parent.stdout is not None
    pid_text, tempdir = parent.stdout.readline().split()
    parent.kill()
    parent.wait()
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                state = Path(f"/proc/{pid_text}/stat").read_text().split()[2]
            except FileNotFoundError:
                break  # gone (reaped by init)
            if state == "Z":
                break  # dead, waiting for init to reap it
            assert time.monotonic() < deadline, "server outlived its parent"
            time.sleep(0.05)
    finally:
        # Nothing could clean up after a SIGKILL: remove what the parent left here
        # (and the server itself, should it have survived).
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_text), signal.SIGKILL)
        shutil.rmtree(tempdir, ignore_errors=True)
