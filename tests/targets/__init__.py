"""One ``Target`` per backend and server: what the conformance suite needs to know.

Adding a backend to the whole conformance suite means adding one module here and one
entry in ``TARGETS`` (see ``tests/conftest.py``).
"""
