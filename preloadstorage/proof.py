"""The proof that lets an unchanged deploy skip Django's post-processing.

Post-processing is a pure function of its inputs: the sources' bytes and names, the
code and settings of the storage class, Django's version and ``STATIC_URL``. When all of
them equal those of the run that wrote the live manifest, and the bucket still holds
every object that run left, with the same bytes (same fingerprints, not modified since),
then the result of post-processing is already in the bucket: the run yields the same
results and uploads nothing.

What the proof needs is recorded in the run state (``preloadstorage-state.json``),
never in ``staticfiles.json``, which stays byte-identical to Django's. Anything that
does not match, or cannot be read, means "post-process as usual": the skip never
guesses.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import mimetypes
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import django
import storages
from django.conf import settings
from django.contrib.staticfiles.utils import matches_patterns
from django.core.files.base import ContentFile

from . import __version__
from .sync import SyncRun
from .warmup import local_file

__all__ = ["inputs_digest", "record", "replay", "verify"]

PostProcessResult = tuple[str, Any, Any]

_LIBRARIES = ("django.", "storages.", "preloadstorage.", "builtins", "abc")
# Options that never change what is written, and must not be fed to a digest in a
# public object even hashed: credentials.
_SECRET_WORDS = ("key", "secret", "token", "password", "credential", "connection_string", "sas")
# Class attributes of HashedFilesMixin/ManifestFilesMixin that shape the output.
_POST_PROCESS_ATTRS = (
    "patterns",
    "manifest_strict",
    "keep_intermediate_files",
    "max_post_process_passes",
    "support_js_module_import_aggregation",
    "manifest_version",
    "manifest_name",
)


def _stable(value: Any, depth: int = 0) -> Any:
    """A JSON-able, run-independent picture of an option value (no addresses)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return hashlib.sha256(value).hexdigest()
    if depth > 4:
        return type(value).__qualname__
    if isinstance(value, Mapping):
        return {str(k): _stable(v, depth + 1) for k, v in sorted(value.items(), key=str)}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_stable(v, depth + 1) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if callable(value) or inspect.isclass(value):
        return getattr(value, "__qualname__", type(value).__qualname__)
    public = (
        {k: v for k, v in vars(value).items() if not k.startswith("_")}
        if hasattr(value, "__dict__")
        else {}
    )
    return [type(value).__qualname__, _stable(public, depth + 1)]


def _code_digest(cls: type) -> str:
    """The source of every project class in the storage's MRO (libraries: by version)."""
    digest = hashlib.sha256()
    for klass in cls.__mro__:
        module = klass.__module__
        if module.startswith(_LIBRARIES) or module in ("builtins", "abc"):
            continue
        try:
            path = inspect.getsourcefile(sys.modules[module])
            with open(path or "", "rb") as fh:
                digest.update(fh.read())
        except (OSError, TypeError, KeyError):
            digest.update(f"unreadable:{module}".encode())
    return digest.hexdigest()


def _mime_digest() -> str:
    """The MIME tables every backend takes content types from (``mimetypes.guess_type``).

    They differ between Python versions (``.js``) and machines (``/etc/mime.types``): a
    full run would rewrite the content type of every hashed copy, a skip would not.
    """
    if not mimetypes.inited:
        mimetypes.init()
    tables = (
        mimetypes.types_map,
        mimetypes.common_types,
        mimetypes.encodings_map,
        mimetypes.suffix_map,
    )
    return hashlib.sha256(json.dumps([sorted(t.items()) for t in tables]).encode()).hexdigest()


def inputs_digest(
    storage: Any,
    paths: Mapping[str, tuple[Any, str]],
    known_md5: Mapping[str, bytes] | None = None,
) -> str:
    """Everything that shapes post-processing's output, as one digest.

    ``known_md5`` maps local paths to the MD5 of their bytes, computed earlier in the
    same run (the content checks): those files are not read again.
    """
    cls = type(storage)
    options = {
        name: _stable(getattr(storage, name, None))
        for name in sorted(storage.get_default_settings())
        if not any(word in name.lower() for word in _SECRET_WORDS)
    }
    head = {
        "django": django.get_version(),
        "preloadstorage": __version__,
        # The stock backend's code sets the metadata (content type, encoding, ...).
        "django-storages": getattr(storages, "__version__", None),
        "mimetypes": _mime_digest(),
        "static_url": str(settings.STATIC_URL),
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "code": _code_digest(cls),
        "options": options,
        "post_process": {
            name: _stable(getattr(storage, name, None)) for name in _POST_PROCESS_ATTRS
        },
    }
    digest = hashlib.sha256(json.dumps(head, sort_keys=True, default=str).encode())
    for name in sorted(paths):
        source_storage, path = paths[name]
        digest.update(name.encode() + b"\0")
        digest.update(_source_md5(source_storage, path, known_md5 or {}))
    return digest.hexdigest()


def _source_md5(source_storage: Any, path: str, known: Mapping[str, bytes]) -> bytes:
    """The MD5 of a source: the one the collect phase's content check computed for
    the same local file in this run, or read now."""
    local = local_file(source_storage, path)
    md5 = known.get(local) if local is not None else None
    if md5 is not None:
        return md5
    source = hashlib.md5(usedforsecurity=False)
    with source_storage.open(path) as fh:
        while chunk := fh.read(1024 * 1024):
            source.update(chunk)
    return source.digest()


def verify(run: SyncRun, storage: Any, inputs: str) -> bool:
    """Whether the live manifest and its objects are exactly what ``inputs`` give."""
    proof = run.state.sections.get("proof")
    if not isinstance(proof, dict) or proof.get("inputs") != inputs:
        return False
    if proof.get("manifest_hash") != storage.manifest_hash or not storage.manifest_hash:
        return False
    objects = proof.get("objects")
    if not isinstance(objects, dict) or not objects:
        return False
    listed = proof.get("metadata")
    listed = listed if isinstance(listed, dict) else {}
    prefix = run.adapter.prefix()
    for rel, fingerprint in objects.items():
        obj = run.cache.get(prefix + rel)
        if obj is None or obj.fingerprint is None or obj.fingerprint != fingerprint:
            return False
        known = run.state.metadata_digest(obj.key, obj.modified)
        if known is None:
            return False  # modified since the proof was written, or never recorded
        # What the settings and get_object_parameters() give the name now (they may
        # read more than the inputs digest sees): metadata depends on the name only.
        digest = run.metadata_digests.get(obj.key)  # computed by this run's check
        if digest is None:
            digest = _name_metadata_digest(run, rel)
        if digest != known:
            return False
        # Metadata the listing shows (GCS, Azure) must be as left: someone may have
        # changed it without a newer modification time (within the clock skew allowed).
        if rel in listed and _metadata_digest(obj.metadata) != listed[rel]:
            return False
    return True


def _name_metadata_digest(run: SyncRun, name: str) -> str:
    return run.adapter.prepare(name, ContentFile(b"", name=name)).metadata_digest


def work_ahead(run: SyncRun, names: Iterable[str]) -> Iterator[None]:
    """Compute the metadata digests :func:`verify` compares for ``names`` (the live
    manifest's hashed names), one per step, while the listing is still coming."""
    for name in dict.fromkeys(names):
        key = run.adapter.key(name)
        if key not in run.metadata_digests:
            # On error verify() computes it again, and raises there.
            with contextlib.suppress(Exception):
                run.metadata_digests[key] = _name_metadata_digest(run, name)
        yield


def _metadata_digest(metadata: Mapping[str, Any] | None) -> str | None:
    if metadata is None:
        return None
    picture = json.dumps(_stable(metadata), sort_keys=True, default=str)
    return hashlib.sha256(picture.encode()).hexdigest()[:16]


def record(run: SyncRun, storage: Any, inputs: str, results: list[PostProcessResult]) -> None:
    """Remember what this successful run left, for the next run's :func:`verify`."""
    prefix = run.adapter.prefix()
    objects: dict[str, str] = {}
    listed: dict[str, str] = {}
    for key in run.collected:
        obj = run.cache.get(key)
        if obj is None or obj.fingerprint is None or not key.startswith(prefix):
            run.state.sections.pop("proof", None)  # cannot be proven: never skip
            return
        objects[key[len(prefix) :]] = obj.fingerprint
        metadata = _metadata_digest(obj.metadata)
        if metadata is not None:
            listed[key[len(prefix) :]] = metadata
    run.state.sections["proof"] = {
        "inputs": inputs,
        "manifest_hash": storage.manifest_hash,
        "objects": objects,
        "metadata": listed,
        "unprocessed": sorted(name for name, _, processed in results if not processed),
    }


def replay(run: SyncRun, storage: Any, paths: Mapping[str, Any]) -> Iterator[PostProcessResult]:
    """The results Django's post-processing yields for ``paths``, in its order."""
    proof = run.state.sections["proof"]
    prefix = run.adapter.prefix()
    keys = {prefix + rel for rel in proof["objects"]}
    run.stats.add(unchanged=len(keys - run.collected))  # the hashed copies, not visited
    run.collected.update(keys)
    for key in keys:
        run.cache.keep(key)
    unprocessed = set(proof.get("unprocessed", ()))
    order = sorted(paths, key=lambda name: len(name.split(os.sep)), reverse=True)
    adjustable = {name for name in paths if matches_patterns(name, storage._patterns)}
    hashed = storage.hashed_files
    for name in [n for n in order if n not in adjustable] + [n for n in order if n in adjustable]:
        yield name, hashed.get(name, name), name not in unprocessed
