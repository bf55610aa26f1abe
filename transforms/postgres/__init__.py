"""PostgreSQL for the jobs: reading a query in parallel, exactly once per row, as Arrow record batches (from one
snapshot), and creating a table from a dataset spec.

- :mod:`~transforms.postgres.connection`: connecting (with retries), where the DSN comes from, and the one place
  that splits off the password and keeps it out of anything shown or recorded.
- :mod:`~transforms.postgres.columns`: PostgreSQL types as Arrow and BigQuery types (:class:`Column`,
  :func:`describe`), and partition keys mapped onto integers (:class:`KeyKind`, :func:`key_kind`).
- :mod:`~transforms.postgres.plan`: the launcher's side: :func:`plan_read` describes the query's columns, finds
  the bounds of the partition key, exports a snapshot and cuts the key's range into :class:`ReadPart` s.
- :mod:`~transforms.postgres.read`: the workers' side: :class:`ReadKeyRangesFn`, a splittable DoFn that claims a
  chunk of keys at a time by its last key and reads it in one ``COPY``, and :class:`ReadFromPostgres`.
- :mod:`~transforms.postgres.decode`: a chunk's ``COPY`` output as an Arrow table: binary decoded by numpy, CSV
  by Arrow's reader, array columns from JSON text to lists.
- :mod:`~transforms.postgres.seed`: a dataset spec's columns as DDL, the table created and loaded with ``COPY``.

Importing the package imports none of them: ``connection`` needs only psycopg2, the others Arrow, and ``read``
Beam, so a job imports them once its command line is checked.
"""
