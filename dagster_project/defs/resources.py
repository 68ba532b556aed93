"""The lake as a Dagster resource, configured from the environment (`EnvVar`)."""

from dagster import ConfigurableResource

from loglake.config import load_settings
from loglake.lake import Lake

LAKE_WRITER_POOL = "lake_writer"
"""The Dagster pool every asset that publishes manifest versions runs in (flush,
compaction, retention, deletes, GC), so writers take turns; the manifest's create-if-absent
commit is the second line of defence."""


class LakeResource(ConfigurableResource):
    """Where the lake is and how to reach it.

    `lake` is a directory or `s3://bucket/prefix`; `config_file` an optional loglake YAML
    (partition labels, limits, S3 endpoint). S3 settings given here override the file's.
    """

    lake: str
    config_file: str | None = None
    s3_endpoint: str | None = None
    s3_region: str | None = None

    def open(self) -> Lake:
        """Open the lake with these settings."""
        settings = load_settings(self.config_file, lake=self.lake)
        if self.s3_endpoint:
            settings.storage.s3.endpoint = self.s3_endpoint
        if self.s3_region:
            settings.storage.s3.region = self.s3_region
        return Lake.open(settings)
