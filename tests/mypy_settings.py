"""Minimal Django settings for mypy's django-stubs plugin (type checking only)."""

SECRET_KEY = "mypy"
INSTALLED_APPS = ["django.contrib.staticfiles"]
STATIC_URL = "/static/"
