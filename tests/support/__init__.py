"""Test-support code, apart from the tests of the product: the real storage servers
(``servers``), the recording proxy in front of them (``proxy``) and their own tests."""
