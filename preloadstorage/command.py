"""Find the running ``collectstatic`` command from inside the storage.

The product promise is that users keep the *stock* command, so the storage has no hook
telling it that a collectstatic run started, which source file a ``get_modified_time()``
call is about, or whether ``post_process()`` (our upload barrier) will be called. The
call stack knows all three: this module looks for the stock command's own frames, by
method name and source file (cheap, immune to subclasses that override the methods and
to instrumentation that wraps them), and reads only the documented arguments of those
methods.

Outside collectstatic (a web process rendering ``{% static %}``, a media upload, a
shell) nothing is found and every storage method behaves exactly as django-storages'.
"""

from __future__ import annotations

import inspect
import sys
import threading
import weakref
from dataclasses import dataclass
from functools import cache
from types import FrameType
from typing import Any

__all__ = [
    "CollectContext",
    "command_storage",
    "find_collectstatic",
    "register_run",
    "runs_of",
    "will_post_process",
]

_MAX_DEPTH = 64


@dataclass(frozen=True)
class CollectContext:
    """The running collectstatic command, and the file it is deciding about."""

    command: Any
    #: ``(source_storage, path)`` while the command runs ``delete_file()``.
    source: tuple[Any, str] | None


_METHODS = frozenset({"collect", "clear_dir", "delete_file", "copy_file", "link_file", "handle"})


@cache
def _command_files() -> frozenset[str]:
    """The source file(s) of the stock command's code, as its frames name them."""
    from django.contrib.staticfiles.management.commands import collectstatic

    # Read from the stock functions: a method that instrumentation (an APM, a profiler)
    # replaced names another module, and is unwrapped or left out.
    functions = (inspect.unwrap(getattr(collectstatic.Command, name)) for name in _METHODS)
    files = {
        code.co_filename
        for f in functions
        if getattr(f, "__module__", None) == _MODULE
        and (code := getattr(f, "__code__", None)) is not None
    }
    return frozenset(files or {str(collectstatic.__file__)})


_MODULE = "django.contrib.staticfiles.management.commands.collectstatic"


def find_collectstatic(frame: FrameType | None = None) -> CollectContext | None:
    """Return the collectstatic run this call is part of, or ``None``.

    Costs nothing where collectstatic was never imported (a web process): the stack is
    walked only once Django's command module is loaded.
    """
    if _MODULE not in sys.modules:
        return None
    files = _command_files()
    frame = frame or sys._getframe(1)
    source = None
    depth = 0
    while frame is not None and depth < _MAX_DEPTH:
        code = frame.f_code
        if code.co_name in _METHODS and code.co_filename in files:
            f_locals = frame.f_locals
            if code.co_name == "delete_file" and source is None:
                source = (f_locals["source_storage"], f_locals["path"])
            return CollectContext(command=f_locals["self"], source=source)
        frame = frame.f_back
        depth += 1
    return None


def command_storage(command: Any) -> Any:
    """The storage ``command`` collects into (unwrapping Django's lazy object)."""
    from django.utils.functional import LazyObject, empty

    storage = getattr(command, "storage", None)
    if isinstance(storage, LazyObject):
        # Still empty while the storage is being created (ManifestFilesMixin reads its
        # manifest in __init__): not set up yet, so not "this" storage either.
        wrapped = storage._wrapped
        return None if wrapped is empty else wrapped
    return storage


def is_command_storage(command: Any, storage: Any) -> bool:
    """Whether ``storage`` is the storage ``command`` collects into."""
    return command_storage(command) is storage


def will_post_process(command: Any, storage: Any) -> bool:
    """Whether ``command`` will call ``storage.post_process()`` after collecting.

    That call is the barrier. Only the command's own storage gets it: any other storage
    used during the run (a separate ``manifest_storage``, one that project code saves
    to) writes inside ``save()``, so nothing it writes is left pending when the command
    returns. Without post-processing (``--no-post-process``) neither gets a barrier.
    """
    return (
        bool(getattr(command, "post_process", False))
        and hasattr(storage, "post_process")
        and is_command_storage(command, storage)
    )


# Every run of one collectstatic command: the command's own storage finishes the others
# (a separate manifest_storage, storages project code uses) with its barrier.
_RUNS: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()
_RUNS_LOCK = threading.Lock()


def register_run(run: Any, command: Any) -> None:
    """Track ``run`` (a :class:`~preloadstorage.sync.SyncRun`) as part of ``command``;
    ``run.finish()`` is called when the command goes away, so its summary prints even
    if the command dies."""
    with _RUNS_LOCK:
        _RUNS.setdefault(command, []).append(run)
    weakref.finalize(command, run.finish)


def runs_of(command: Any) -> list[Any]:
    """The runs registered for ``command`` so far."""
    with _RUNS_LOCK:
        return list(_RUNS.get(command, ()))
