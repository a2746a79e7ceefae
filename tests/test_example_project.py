"""Tests for the example Django project in ``example_project/``.

The example project is a separate Django site with its own settings, while the
rest of the test suite configures Django itself (tests/conftest.py).  So the
project is only ever run in subprocesses (``manage.py`` or a small
``django.setup()`` script); this process never imports its settings as Django
settings.  The settings file is plain Python reading environment variables, so
the STORAGES selection is checked in-process with ``runpy``.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import runpy
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest

REPO = Path(__file__).resolve().parent.parent
PROJECT = REPO / "example_project"
MANAGE = PROJECT / "manage.py"
SETTINGS_FILE = PROJECT / "demo_site" / "settings.py"

# Where the example project's own static files live: AppDirectoriesFinder
# serves pages/static/, FileSystemFinder serves assets/ (no prefix).
SOURCE_DIRS = (PROJECT / "pages" / "static", PROJECT / "assets")

VARIABLES_CSS = "pages/css/variables.css"
LEAF_FILE = "pages/img/gallery/2024/harbour.png"

HASHED_RE = re.compile(r"\.[0-9a-f]{12}(\.[^./]+)?$")
CSS_REF_RE = re.compile(
    r"""url\(\s*(?P<q>['"]?)(?P<url1>.*?)(?P=q)\s*\)"""
    r"""|@import\s*(?P<q2>['"])(?P<url2>.*?)(?P=q2)"""
    r"""|/\*#\s*sourceMappingURL=(?P<url3>\S+)\s*\*/"""
)
JSON_MARKER = "@@EXAMPLE-JSON@@"


# --------------------------------------------------------------------------
# helpers


def source_files() -> dict[str, Path]:
    """Static name -> file, for the example project's own static files."""
    files = {}
    for base in SOURCE_DIRS:
        for path in sorted(base.rglob("*")):
            if path.is_file():
                files[path.relative_to(base).as_posix()] = path
    return files


def project_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("EXAMPLE_") and key != "DJANGO_SETTINGS_MODULE"
    }
    env["DJANGO_SETTINGS_MODULE"] = "demo_site.settings"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PROJECT), str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env["PYTHONUTF8"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    env["EXAMPLE_DB_PATH"] = str(tmp_path / "db.sqlite3")
    env["EXAMPLE_STATIC_ROOT"] = str(tmp_path / "static_root")
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str], timeout: int = 300):
    result = subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
    )
    return result


def run_ok(args: list[str], env: dict[str, str], timeout: int = 300):
    result = run(args, env, timeout)
    assert result.returncode == 0, (
        f"{args} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result


def run_script(script: str, env: dict[str, str]):
    """Run a django.setup() script in the example project; return its JSON."""
    prologue = "import django, json, os\ndjango.setup()\n"
    result = run_ok(["-c", prologue + textwrap.dedent(script)], env)
    for line in result.stdout.splitlines():
        if line.startswith(JSON_MARKER):
            return json.loads(line[len(JSON_MARKER) :])
    raise AssertionError(f"no JSON output:\n{result.stdout}\n{result.stderr}")


def static_url(name: str) -> str:
    """What ``{% static name %}`` renders with ManifestStaticFilesStorage.

    HashedFilesMixin.url() unquotes the URL it builds, so spaces and non-ASCII
    characters appear as such (not percent-encoded) in the HTML.
    """
    return "/static/" + name


def css_references(text: str) -> list[str]:
    refs = []
    for match in CSS_REF_RE.finditer(text):
        refs.append(match["url1"] or match["url2"] or match["url3"] or "")
    return refs


def is_external(url: str) -> bool:
    return (
        not url
        or re.match(r"^[a-z][a-z0-9+.-]*:", url, re.IGNORECASE) is not None
        or url.startswith(("//", "#", "/"))
    )


def resolve(source_name: str, url: str) -> str:
    path = urlsplit(urldefrag(url)[0]).path
    return posixpath.normpath(posixpath.join(posixpath.dirname(source_name), unquote(path)))


def reference_graph() -> dict[str, set[str]]:
    """Static name -> static names it references, for every source stylesheet/JS."""
    graph = {}
    for name, path in source_files().items():
        if name.endswith(".css"):
            refs = css_references(path.read_text("utf-8"))
        elif name.endswith(".js"):
            refs = re.findall(r"(?m)^//# sourceMappingURL=(\S+)$", path.read_text("utf-8"))
        else:
            continue
        graph[name] = {resolve(name, ref) for ref in refs if not is_external(ref)}
    return graph


# --------------------------------------------------------------------------
# the fixture tree itself


def test_static_tree_shape():
    files = source_files()
    assert 40 <= len(files) <= 60, len(files)
    names = set(files)
    # Both finders contribute.
    assert any(n.startswith("pages/") for n in names)
    assert any(not n.startswith("pages/") for n in names)
    # Non-ASCII names, a space, deep nesting, plain files, fonts and maps.
    assert "pages/img/café.svg" in names
    assert "pages/fonts/ünïcode-Ω.woff2" in names
    assert "pages/img/hero banner.png" in names
    assert max(n.count("/") for n in names) >= 4
    for name in (
        "robots.txt",
        "pages/data/gallery.json",
        "pages/js/app.js.map",
        "pages/css/site.css.map",
        "pages/js/lib/util.js",
    ):
        assert name in names
    for ext in (".woff2", ".woff", ".ttf", ".eot", ".png", ".svg", ".gif", ".ico"):
        assert any(n.endswith(ext) for n in names), ext


def test_no_large_or_generated_files_committed():
    for path in PROJECT.rglob("*"):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        assert path.stat().st_size < 50 * 1024, path
        assert path.suffix not in {".sqlite3", ".pyc"}, path
        assert path.name != "staticfiles.json", path


def test_every_reference_resolves_to_a_source_file():
    names = set(source_files())
    for source, targets in reference_graph().items():
        for target in targets:
            assert target in names, f"{source} references missing {target}"


def test_every_stylesheet_imports_the_variables_stylesheet():
    graph = reference_graph()
    stylesheets = [n for n in graph if n.endswith(".css")]
    assert len(stylesheets) >= 10

    def reaches(name, seen=()):
        if VARIABLES_CSS in graph.get(name, ()):
            return True
        return any(
            reaches(child, (*seen, name))
            for child in graph.get(name, ())
            if child.endswith(".css") and child not in seen
        )

    for name in stylesheets:
        if name != VARIABLES_CSS:
            assert reaches(name), f"{name} does not import {VARIABLES_CSS}"
    # variables.css itself references nothing.
    assert graph[VARIABLES_CSS] == set()


def test_leaf_file_is_referenced_by_no_static_file():
    assert LEAF_FILE in source_files()
    for source, targets in reference_graph().items():
        assert LEAF_FILE not in targets, source


# --------------------------------------------------------------------------
# settings: STORAGES selection (plain Python, no Django configuration)


def load_settings(monkeypatch, **env):
    for key in list(os.environ):
        if key.startswith("EXAMPLE_") or key in {
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        }:
            monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return runpy.run_path(str(SETTINGS_FILE))


@pytest.mark.parametrize(
    ("kind", "backend"),
    [
        ("local", "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"),
        ("stock-s3", "storages.backends.s3.S3ManifestStaticStorage"),
        ("s3", "preloadstorage.backends.s3.PreloadingS3ManifestStorage"),
        ("stock-gcs", "demo_site.storages.StockGoogleCloudManifestStorage"),
        ("gcs", "preloadstorage.backends.gcloud.PreloadingGoogleCloudManifestStorage"),
        ("stock-azure", "demo_site.storages.StockAzureManifestStorage"),
        ("azure", "preloadstorage.backends.azure_storage.PreloadingAzureManifestStorage"),
    ],
)
def test_settings_select_backend(monkeypatch, kind, backend):
    settings = load_settings(monkeypatch, EXAMPLE_STORAGE=kind, EXAMPLE_MAX_WORKERS="7")
    staticfiles = settings["STORAGES"]["staticfiles"]
    assert staticfiles["BACKEND"] == backend
    options = staticfiles["OPTIONS"]
    if kind.startswith("stock-") or kind == "local":
        assert "max_workers" not in options
    else:
        assert options["max_workers"] == 7
    assert "default" in settings["STORAGES"]


def test_settings_defaults(monkeypatch, tmp_path):
    settings = load_settings(monkeypatch)
    assert settings["STORAGES"]["staticfiles"] == {
        "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage",
        "OPTIONS": {},
    }
    assert settings["DEBUG"] is False
    assert {"127.0.0.1", "localhost", "testserver"} <= set(settings["ALLOWED_HOSTS"])
    for key in ("STATIC_ROOT",):
        assert not Path(settings[key]).resolve().is_relative_to(REPO)
    assert not Path(settings["DATABASES"]["default"]["NAME"]).resolve().is_relative_to(REPO)

    settings = load_settings(
        monkeypatch,
        EXAMPLE_STATIC_ROOT=str(tmp_path / "s"),
        EXAMPLE_DB_PATH=str(tmp_path / "d.sqlite3"),
    )
    assert settings["STATIC_ROOT"] == str(tmp_path / "s")
    assert settings["DATABASES"]["default"]["NAME"] == str(tmp_path / "d.sqlite3")


def test_settings_s3_options(monkeypatch):
    options = load_settings(monkeypatch, EXAMPLE_STORAGE="stock-s3")["STORAGES"]["staticfiles"][
        "OPTIONS"
    ]
    assert options == {
        "bucket_name": "static",
        "location": "static",
        "access_key": "test",
        "secret_key": "test",
        "region_name": "us-east-1",
        "querystring_auth": False,
        "object_parameters": {"CacheControl": "max-age=31536000, public"},
    }

    options = load_settings(
        monkeypatch,
        EXAMPLE_STORAGE="s3",
        EXAMPLE_S3_ENDPOINT="http://127.0.0.1:9000",
        EXAMPLE_S3_BUCKET="b",
        EXAMPLE_S3_LOCATION="l",
        AWS_ACCESS_KEY_ID="ak",
        AWS_SECRET_ACCESS_KEY="sk",
    )["STORAGES"]["staticfiles"]["OPTIONS"]
    assert options["endpoint_url"] == "http://127.0.0.1:9000"
    assert options["addressing_style"] == "path"
    assert (options["bucket_name"], options["location"]) == ("b", "l")
    assert (options["access_key"], options["secret_key"]) == ("ak", "sk")
    assert "max_workers" not in options
    assert "custom_domain" not in options


def test_settings_s3_checksum_client_config(monkeypatch):
    pytest.importorskip("botocore")
    options = load_settings(
        monkeypatch,
        EXAMPLE_STORAGE="stock-s3",
        EXAMPLE_S3_ENDPOINT="http://127.0.0.1:9000",
        EXAMPLE_S3_CHECKSUMS="when_required",
    )["STORAGES"]["staticfiles"]["OPTIONS"]
    config = options["client_config"]
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    assert config.s3 == {"addressing_style": "path"}


def test_settings_gcs_and_azure_options(monkeypatch):
    gcs = load_settings(monkeypatch, EXAMPLE_STORAGE="gcs", EXAMPLE_GCS_BUCKET="g")["STORAGES"][
        "staticfiles"
    ]["OPTIONS"]
    assert gcs["bucket_name"] == "g"
    assert gcs["project_id"] == "test"
    assert gcs["querystring_auth"] is False
    assert gcs["location"] == "static"

    azure = load_settings(
        monkeypatch,
        EXAMPLE_STORAGE="stock-azure",
        EXAMPLE_AZURE_CONNECTION_STRING="UseDevelopmentStorage=true",
        EXAMPLE_AZURE_CONTAINER="c",
    )["STORAGES"]["staticfiles"]["OPTIONS"]
    assert azure["connection_string"] == "UseDevelopmentStorage=true"
    assert azure["azure_container"] == "c"
    assert azure["overwrite_files"] is True
    assert azure["location"] == "static"


def test_settings_reject_unknown_storage(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="EXAMPLE_STORAGE"):
        load_settings(monkeypatch, EXAMPLE_STORAGE="ftp")


def test_settings_reference_preloadstorage_only_by_string():
    source = SETTINGS_FILE.read_text("utf-8")
    assert not re.search(r"^\s*(from|import)\s+preloadstorage", source, re.MULTILINE)
    assert not re.search(r"^\s*(from|import)\s+storages", source, re.MULTILINE)


def test_stock_gcs_and_azure_classes(tmp_path):
    pytest.importorskip("storages")
    script = f"""
    import importlib.util
    from django.contrib.staticfiles.storage import ManifestFilesMixin
    import demo_site.storages as mod
    out = {{}}
    for name, dep in [("StockGoogleCloudManifestStorage", "google.cloud.storage"),
                      ("StockAzureManifestStorage", "azure.storage.blob")]:
        if importlib.util.find_spec(dep.split(".")[0]) is None:
            continue
        cls = getattr(mod, name)
        out[name] = [cls.__module__, cls.__qualname__,
                     issubclass(cls, ManifestFilesMixin),
                     [c.__name__ for c in cls.__mro__[1:3]]]
    print({JSON_MARKER!r} + json.dumps(out))
    """
    out = run_script(script, project_env(tmp_path))
    expected_bases = {
        "StockGoogleCloudManifestStorage": ["ManifestFilesMixin", "HashedFilesMixin"],
        "StockAzureManifestStorage": ["ManifestFilesMixin", "HashedFilesMixin"],
    }
    for name, (module, qualname, is_manifest, bases) in out.items():
        assert (module, qualname, is_manifest) == ("demo_site.storages", name, True)
        assert bases == expected_bases[name]


# --------------------------------------------------------------------------
# running the project


def test_manage_py_check(tmp_path):
    result = run_ok([str(MANAGE), "check"], project_env(tmp_path))
    assert "no issues" in result.stdout


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("example_collect")
    env = project_env(tmp_path, EXAMPLE_STORAGE="local")
    result = run_ok([str(MANAGE), "collectstatic", "--noinput"], env)
    root = Path(env["EXAMPLE_STATIC_ROOT"])
    manifest = json.loads((root / "staticfiles.json").read_text("utf-8"))
    finder_files = run_script(
        f"""
        from django.contrib.staticfiles.finders import get_finders
        out = {{}}
        for finder in get_finders():
            for path, storage in finder.list(["CVS", ".*", "*~"]):
                prefix = getattr(storage, "prefix", None)
                name = (prefix + "/" + path) if prefix else path
                out.setdefault(name.replace(os.sep, "/"), type(finder).__name__)
        print({JSON_MARKER!r} + json.dumps(out))
        """,
        env,
    )
    return {
        "tmp_path": tmp_path,
        "env": env,
        "root": root,
        "stdout": result.stdout,
        "manifest": manifest,
        "paths": manifest["paths"],
        "finder_files": finder_files,
    }


def test_collectstatic_manifest_maps_every_source_file(collected):
    paths = collected["paths"]
    finder_files = collected["finder_files"]
    # Every file the finders see (ours and django.contrib.admin's) is mapped,
    # and nothing else is.
    assert set(paths) == set(finder_files)
    assert set(source_files()) <= set(paths)
    assert "admin/css/base.css" in paths
    finders = set(finder_files.values())
    assert finders == {"FileSystemFinder", "AppDirectoriesFinder"}
    assert f"{len(paths)} static files copied" in collected["stdout"]


def test_collectstatic_writes_hashed_and_original_files(collected):
    root = collected["root"]
    paths = collected["paths"]
    for name, hashed in paths.items():
        assert (root / name).is_file(), name
        assert (root / hashed).is_file(), hashed
        assert hashed != name
        assert HASHED_RE.search(hashed), hashed
        assert posixpath.dirname(hashed) == posixpath.dirname(name)
    # ManifestStaticFilesStorage keeps no intermediate files: originals,
    # final hashed names and the manifest, nothing else.
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert on_disk == set(paths) | set(paths.values()) | {"staticfiles.json"}
    assert len(on_disk) == 2 * len(paths) + 1


def test_collectstatic_rewrites_css_and_js_references(collected):
    root = collected["root"]
    paths = collected["paths"]
    hashed_names = set(paths.values())

    def hashed_text(name):
        return (root / paths[name]).read_text("utf-8")

    # Every relative reference in every rewritten stylesheet of ours points at
    # a hashed file.
    ours = [n for n in source_files() if n.endswith(".css")]
    for name in ours:
        for ref in css_references(hashed_text(name)):
            if is_external(ref):
                continue
            target = resolve(paths[name], ref)
            assert target in hashed_names, f"{paths[name]}: {ref!r} -> {target}"

    variables = paths[VARIABLES_CSS].rsplit("/", 1)[-1]
    assert f'@import url("{variables}")' in hashed_text("pages/css/base.css")
    assert f'@import url("../{variables}")' in hashed_text("pages/css/components/buttons.css")

    fonts = hashed_text("pages/css/typography/fonts.css")
    eot = paths["pages/fonts/inter-regular.eot"].rsplit("/", 1)[-1]
    assert f'url("../../fonts/{eot}?#iefix")' in fonts
    unicode_font = paths["pages/fonts/ünïcode-Ω.woff2"].rsplit("/", 1)[-1]
    assert f"../../fonts/{unicode_font}" in fonts
    svg_font = paths["pages/fonts/icons/site-icons.svg"].rsplit("/", 1)[-1]
    assert f"icons/{svg_font}#site-icons" in fonts

    home = hashed_text("pages/css/pages/home.css")
    banner = paths["pages/img/hero banner.png"].rsplit("/", 1)[-1]
    assert f'url("../../img/{banner}")' in home
    assert " " in banner
    cafe = paths["pages/img/café.svg"].rsplit("/", 1)[-1]
    assert f"../../img/{cafe}" in home
    assert f"../../img/{cafe}" in hashed_text("pages/css/pages/gallery.css")

    about = hashed_text("pages/css/pages/about.css")
    assert 'url("data:image/gif;base64,' in about
    assert 'url("https://www.example.com/partners/logo.png")' in about
    assert "url(//cdn.example.com/badges/badge.svg)" in about
    assert "url(#rounded-clip)" in about

    site_map = paths["pages/css/site.css.map"].rsplit("/", 1)[-1]
    assert f"/*# sourceMappingURL={site_map} */" in hashed_text("pages/css/site.css")
    js_map = paths["pages/js/app.js.map"].rsplit("/", 1)[-1]
    app = hashed_text("pages/js/app.js")
    assert f"//# sourceMappingURL={js_map}" in app
    # ES module imports are left as written (Django does not rewrite them by
    # default); the unhashed targets are collected too.
    assert 'from "./lib/util.js"' in app
    assert (root / "pages/js/lib/util.js").is_file()

    # Binary files are copied byte for byte.
    for name in ("pages/img/café.svg", "pages/fonts/ünïcode-Ω.woff2", "favicon.ico"):
        source = source_files()[name].read_bytes()
        assert (root / paths[name]).read_bytes() == source


RENDER_SCRIPT = f"""
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.conf import settings

client = Client()
out = {{"debug": settings.DEBUG, "pages": {{}}}}
for path in ["/", "/about/", "/gallery/", "/admin/login/"]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    out["pages"][path] = {{
        "status": response.status_code,
        "html": response.content.decode("utf-8"),
        "queries": len(queries),
    }}
print({JSON_MARKER!r} + json.dumps(out))
"""

COMMON = [
    "favicon.ico",
    "site.webmanifest",
    "pages/fonts/inter-regular.woff2",
    "pages/css/site.css",
    "pages/css/themes/dark/theme.css",
    "pages/css/print.css",
    "pages/js/app.js",
    "pages/js/legacy.js",
    "pages/img/logo.svg",
]
PAGE_STATIC = {
    "/": [*COMMON, "pages/css/pages/home.css", "pages/img/hero banner.png", "pages/img/café.svg"],
    "/about/": [
        *COMMON,
        "pages/css/pages/about.css",
        "pages/img/logo.png",
        "humans.txt",
        "robots.txt",
    ],
    "/gallery/": [
        *COMMON,
        "pages/css/pages/gallery.css",
        "vendor/lightbox/lightbox.css",
        "vendor/lightbox/lightbox.js",
        "pages/data/gallery.json",
        "pages/img/gallery/2024/harbour.png",
        "pages/img/gallery/2024/lighthouse.png",
        "pages/img/gallery/2025/dunes.png",
        "pages/img/gallery/2025/thumbs/dunes-thumb.png",
    ],
    "/admin/login/": ["admin/css/base.css", "admin/css/login.css"],
}


def test_pages_render_hashed_static_urls(collected):
    out = run_script(RENDER_SCRIPT, collected["env"])
    assert out["debug"] is False
    paths = collected["paths"]
    for path, names in PAGE_STATIC.items():
        page = out["pages"][path]
        assert page["status"] == 200, (path, page["html"][:2000])
        html = page["html"]
        for name in names:
            assert static_url(paths[name]) in html, (path, name)
            assert f'"{static_url(name)}"' not in html, (path, name)
        if path != "/admin/login/":
            assert page["queries"] == 0, path
    assert 'type="module"' in out["pages"]["/"]["html"]


def test_pages_render_unhashed_urls_in_debug_without_collectstatic(tmp_path):
    env = project_env(tmp_path, EXAMPLE_STORAGE="local", EXAMPLE_DEBUG="1")
    script = f"""
    from django.test import Client
    response = Client().get("/gallery/")
    print({JSON_MARKER!r} + json.dumps([response.status_code, response.content.decode()]))
    """
    status, html = run_script(script, env)
    assert status == 200
    assert '"/static/pages/css/site.css"' in html
    assert '"/static/vendor/lightbox/lightbox.js"' in html


def test_pages_fail_loudly_without_manifest(tmp_path):
    # DEBUG=False + manifest_strict: rendering before collectstatic is an error
    # rather than silently unhashed URLs.
    env = project_env(tmp_path, EXAMPLE_STORAGE="local")
    script = f"""
    from django.test import Client
    client = Client(raise_request_exception=False)
    print({JSON_MARKER!r} + json.dumps(client.get("/").status_code))
    """
    assert run_script(script, env) == 500


# --------------------------------------------------------------------------
# optional: the same collectstatic against a local S3 server (moto)


@pytest.fixture
def moto_s3(request):
    """The session's moto server (conftest's ``moto``), reached directly."""
    pytest.importorskip("moto.server")
    pytest.importorskip("boto3")
    moto = request.getfixturevalue("moto")
    return moto.server.endpoint, moto.client


@pytest.mark.parametrize("kind", ["stock-s3", "s3"])
def test_collectstatic_to_local_s3_matches_local_manifest(collected, moto_s3, tmp_path, kind):
    pytest.importorskip("storages")
    if kind == "s3":
        spec = run(["-c", "import preloadstorage.backends.s3"], project_env(tmp_path))
        if spec.returncode != 0:
            pytest.skip("preloadstorage.backends.s3 is not importable yet")
    endpoint, client = moto_s3
    bucket = f"example-{kind}"
    client.create_bucket(Bucket=bucket)
    env = project_env(
        tmp_path,
        EXAMPLE_STORAGE=kind,
        EXAMPLE_S3_ENDPOINT=endpoint,
        EXAMPLE_S3_BUCKET=bucket,
        EXAMPLE_S3_LOCATION="static",
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
    )
    run_ok([str(MANAGE), "collectstatic", "--noinput"], env)
    body = client.get_object(Bucket=bucket, Key="static/staticfiles.json")["Body"].read()
    assert json.loads(body)["paths"] == collected["paths"]

    keys = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.update(obj["Key"] for obj in page.get("Contents", ()))
    expected = {f"static/{name}" for name in collected["paths"]}
    expected |= {f"static/{name}" for name in collected["paths"].values()}
    expected.add("static/staticfiles.json")
    if kind == "s3":
        expected.add("static/preloadstorage-state.json")  # the run state, beside it
    assert keys == expected
    head = client.head_object(Bucket=bucket, Key="static/" + collected["paths"][LEAF_FILE])
    assert head["CacheControl"] == "max-age=31536000, public"
