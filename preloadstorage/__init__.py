"""Django storages that make the stock ``collectstatic`` fast on object stores.

Change ``STORAGES["staticfiles"]["BACKEND"]`` to one of the classes in
``preloadstorage.backends`` (``s3``, ``gcloud``, ``azure_storage``). The backend-neutral
pieces are public for storage authors: :class:`~preloadstorage.mixins.PreloadMixin`
and :class:`~preloadstorage.manifest.LocalManifestMixin`.
"""

__version__ = "0.1.0"
