"""Preloading storages, one module per django-storages backend module."""
