"""CachePolicyMixin through the in-memory reference adapter: Cache-Control by kind of file.

The same options on every backend are proven on the real servers in tests/test_cdn.py.
"""

from __future__ import annotations

from preloadstorage.state import STATE_NAME
from tests.conftest import Memory, StaticTree

HASHED = "public, max-age=31536000, immutable"
UNHASHED = "no-cache"


def test_hashed_and_unhashed_names_get_their_own_cache_control(
    memory: Memory, small_tree: StaticTree
) -> None:
    result = memory.run(
        object_parameters={"cache_control": "max-age=60"},
        hashed_cache_control=HASHED,
        unhashed_cache_control=UNHASHED,
    )
    assert result.exit_code == 0, result.stderr
    controls = {name: meta.get("cache_control") for name, meta in memory.metadata().items()}
    hashed = {name for name in controls if name.count(".") >= 2}  # css/base.1a2b3c.css
    assert hashed and all(controls[name] == HASHED for name in hashed)
    unhashed = set(controls) - hashed
    assert "staticfiles.json" in unhashed and "css/base.css" in unhashed
    assert all(controls[name] == UNHASHED for name in unhashed)


def test_without_a_policy_the_backend_parameters_are_untouched(
    memory: Memory, small_tree: StaticTree
) -> None:
    assert memory.run(object_parameters={"cache_control": "max-age=60"}).exit_code == 0
    assert {meta.get("cache_control") for meta in memory.metadata().values()} == {"max-age=60"}


def test_changing_the_policy_rewrites_metadata_only(memory: Memory, small_tree: StaticTree) -> None:
    assert memory.run(hashed_cache_control=HASHED).exit_code == 0
    contents = memory.objects()
    assert memory.run(hashed_cache_control="max-age=600").exit_code == 0
    assert memory.objects() == contents
    puts = [key for op, key in memory.writes if op == "put"]
    patched = {key for op, key in memory.writes if op == "patch"}
    assert puts == [STATE_NAME]  # no file sent again, only the run's records
    assert patched and all(key.count(".") >= 2 for key in patched)  # the hashed ones
