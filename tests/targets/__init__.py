"""One ``Target`` per backend and server: what the conformance suite needs to know.

Adding a backend to the whole conformance suite means adding one module here and its
name to ``ALL_TARGETS`` and ``make_target`` in ``tests/conftest.py``.
"""
