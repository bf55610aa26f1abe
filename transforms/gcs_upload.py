"""Copying files (on any Beam filesystem) to Cloud Storage, verified by CRC32C, skipping an object already there
with the same CRC32C and size (what ``pipelines.upload`` runs)."""

from __future__ import annotations

import base64

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.progress import NAMESPACE

CHUNK = 8 << 20


def crc32c_of(path: str) -> tuple[str, int]:
    """The base64 CRC32C (as Cloud Storage reports it) and the size of a file on any Beam filesystem."""
    import google_crc32c

    checksum, size = google_crc32c.Checksum(), 0
    with FileSystems.open(path, compression_type="uncompressed") as f:
        while chunk := f.read(CHUNK):
            checksum.update(chunk)
            size += len(chunk)
    return base64.b64encode(checksum.digest()).decode(), size


class UploadFn(beam.DoFn):
    """(source path, gs:// destination) -> 'uploaded' or 'skipped', verified by CRC32C."""

    def __init__(self, project: str | None = None):
        self._project = project
        self._client = None
        self._uploaded = Metrics.counter(NAMESPACE, "files_uploaded")
        self._skipped = Metrics.counter(NAMESPACE, "files_skipped")
        self._bytes = Metrics.counter(NAMESPACE, "bytes_uploaded")

    def setup(self):
        from google.cloud import storage

        self._client = storage.Client(project=self._project)

    def process(self, pair):
        yield upload_one(self._client, *pair, counters=(self._uploaded, self._skipped, self._bytes))


def upload_one(client, source: str, dest: str, counters=None) -> str:
    bucket_name, name = dest[len("gs://"):].split("/", 1)
    crc, size = crc32c_of(source)
    blob = client.bucket(bucket_name).get_blob(name)
    if blob is not None and blob.crc32c == crc and blob.size == size:
        if counters:
            counters[1].inc()
        return "skipped"
    blob = client.bucket(bucket_name).blob(name, chunk_size=CHUNK if size > CHUNK else None)
    with FileSystems.open(source, compression_type="uncompressed") as f:
        blob.upload_from_file(f, size=size, checksum="crc32c")
    blob.reload()
    if blob.crc32c != crc:
        raise OSError(f"{dest}: CRC32C {blob.crc32c} after upload, the file's is {crc}")
    if counters:
        counters[0].inc()
        counters[2].inc(size)
    return "uploaded"
