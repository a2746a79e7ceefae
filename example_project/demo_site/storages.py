"""What projects on Google Cloud Storage and Azure write today.

django-storages ships ``S3ManifestStaticStorage`` for S3 but no manifest
storage for GCS or Azure, so projects combine Django's ``ManifestFilesMixin``
with the plain backend themselves.  These two classes are that common recipe;
they are the "stock" baselines (EXAMPLE_STORAGE=stock-gcs / stock-azure) that
preloadstorage's backends are compared against.

The classes are built on first access, so this module imports without
google-cloud-storage or azure-storage-blob installed; only the backend you
actually select needs its client library.
"""

from django.contrib.staticfiles.storage import ManifestFilesMixin


def _google_cloud():
    from storages.backends.gcloud import GoogleCloudStorage

    class StockGoogleCloudManifestStorage(ManifestFilesMixin, GoogleCloudStorage):
        """ManifestStaticFilesStorage behaviour on a GCS bucket."""

    return StockGoogleCloudManifestStorage


def _azure():
    from storages.backends.azure_storage import AzureStorage

    class StockAzureManifestStorage(ManifestFilesMixin, AzureStorage):
        """ManifestStaticFilesStorage behaviour on an Azure Blob container."""

    return StockAzureManifestStorage


_FACTORIES = {
    "StockGoogleCloudManifestStorage": _google_cloud,
    "StockAzureManifestStorage": _azure,
}


def __getattr__(name):
    factory = _FACTORIES.get(name)
    if factory is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    cls = factory()
    cls.__qualname__ = name
    globals()[name] = cls
    return cls
