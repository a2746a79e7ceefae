"""example_project's settings with a staticfiles storage that needs no request, for
floor.py: ``manage.py collectstatic`` then costs Django's own collect loop and nothing
else (``floor.NoCopyStorage`` calls every file unchanged and post-processes nothing)."""

from demo_site.settings import *  # noqa: F403
from demo_site.settings import STORAGES as _STORAGES

STORAGES = {**_STORAGES, "staticfiles": {"BACKEND": "floor.NoCopyStorage"}}
