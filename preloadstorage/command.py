"""Find the running ``collectstatic`` command from inside the storage.

The product promise is that users keep the *stock* command, so the storage has no hook
telling it that a collectstatic run started, which source file a ``get_modified_time()``
call is about, or whether ``post_process()`` (our upload barrier) will be called. The
call stack knows all three: this module looks for the stock command's own frames, by
code object (cheap, and immune to subclasses that override the methods), and reads only
the documented arguments of those methods.

Outside collectstatic (a web process rendering ``{% static %}``, a media upload, a
shell) nothing is found and every storage method behaves exactly as django-storages'.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from types import CodeType, FrameType
from typing import Any

__all__ = ["CollectContext", "find_collectstatic"]

_MAX_DEPTH = 64


@dataclass(frozen=True)
class CollectContext:
    """The running collectstatic command, and the file it is deciding about."""

    command: Any
    #: ``(source_storage, path)`` while the command runs ``delete_file()``.
    source: tuple[Any, str] | None


@cache
def _command_codes() -> dict[CodeType, str]:
    from django.contrib.staticfiles.management.commands.collectstatic import Command

    names = ("collect", "clear_dir", "delete_file", "copy_file", "link_file", "handle")
    return {getattr(Command, name).__code__: name for name in names}


def find_collectstatic(frame: FrameType | None = None) -> CollectContext | None:
    """Return the collectstatic run this call is part of, or ``None``."""
    codes = _command_codes()
    frame = frame or sys._getframe(1)
    source = None
    depth = 0
    while frame is not None and depth < _MAX_DEPTH:
        name = codes.get(frame.f_code)
        if name is not None:
            f_locals = frame.f_locals
            if name == "delete_file" and source is None:
                source = (f_locals["source_storage"], f_locals["path"])
            return CollectContext(command=f_locals["self"], source=source)
        frame = frame.f_back
        depth += 1
    return None


def will_post_process(command: Any, storage: Any) -> bool:
    """Whether ``command`` will call ``storage.post_process()`` after collecting.

    That call is the upload barrier; without it (``--no-post-process``) every upload has
    to finish inside ``save()``.
    """
    return bool(getattr(command, "post_process", False)) and hasattr(storage, "post_process")
