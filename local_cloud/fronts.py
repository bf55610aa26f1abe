"""Thin fronts that make the local emulators answer as Google Cloud does where our exactly-once design relies on it.

Each front is a small reverse proxy on 127.0.0.1 in front of one emulator; every request it has no rule for
passes through unchanged (the Host header included, so the links an emulator builds point at the front).

- :class:`BigQueryFront`: a job id is unique in its project. ``jobs.insert`` under an id already used answers
  409 "Already Exists" (reason ``duplicate``) and runs nothing, as BigQuery does; bqemulator would run a second
  job under the same id. Inserts of one id are serialised, so of eight concurrent ones exactly one runs.
- :class:`StorageFront`: a request for a ``generation`` that is not the live one answers 404, as in a bucket
  without versioning (the emulator serves the live object whatever generation is asked); the preconditions
  ``ifGenerationMatch``, ``ifGenerationNotMatch``,
  ``ifMetagenerationMatch`` and ``ifMetagenerationNotMatch`` (and ``ifSourceGeneration*`` of a copy) are
  honoured with 412 ``conditionNotMet``, checked and applied atomically against every other write through the
  front to the same object; ``objects.patch`` merges ``metadata`` keys into the object's (a null value removes
  one), as Cloud Storage does. gcp-storage-emulator ignores preconditions and replaces the whole map. Requests
  of the JSON batch endpoint pass through unchecked.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from local_cloud.processes import free_port

_LOG = logging.getLogger(__name__)
# A client that went away (reset, or closed before the answer was written): nothing of ours failed, so the stack's
# terminal stays quiet (one debug line). Upstream failures are told apart (UpstreamBroke) and stay visible.
CLIENT_GONE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
               "content-length"}


@dataclass
class Request:
    method: str
    target: str  # path and query, as sent
    headers: list[tuple[str, str]]
    body: bytes = b""

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.target).query, keep_blank_values=True))

    def header(self, name: str, default: str = "") -> str:
        return next((v for k, v in self.headers if k.lower() == name.lower()), default)

    def json_part(self) -> dict:
        """The request's JSON: the body, or the first part of a multipart upload; {} when there is none."""
        kind = self.header("Content-Type")
        body = self.body
        if kind.startswith("multipart/"):
            boundary = re.search(r'boundary="?([^";]+)"?', kind)
            if not boundary:
                return {}
            parts = body.split(b"--" + boundary.group(1).encode())
            first = parts[1] if len(parts) > 1 else b""
            body = first.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in first else b""
        try:
            found = json.loads(body.strip() or b"{}")
        except ValueError:
            return {}
        return found if isinstance(found, dict) else {}


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: http.client.HTTPResponse | None = None  # a body still to be read from upstream
    connection: http.client.HTTPConnection | None = None

    def read(self) -> Response:
        """The whole body read now (a rule that looks at it, or holds a lock until the upstream answered)."""
        if self.stream is not None:
            self.body, self.stream = self.stream.read(), None
            self.connection.close()
        return self

    def json(self) -> dict:
        self.read()
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            return {}

    def header(self, name: str, default: str = "") -> str:
        return next((v for k, v in self.headers if k.lower() == name.lower()), default)


def error(status: int, message: str, reason: str, api_status: str | None = None, **extra) -> Response:
    """An error answer shaped as Google's JSON APIs shape them."""
    body = {"error": {"code": status, "message": message,
                      "errors": [{"message": message, "domain": "global", "reason": reason, **extra}]}}
    if api_status:
        body["error"]["status"] = api_status
    return Response(status, [("Content-Type", "application/json; charset=UTF-8")], json.dumps(body).encode())


class UpstreamBroke(RuntimeError):
    """The emulator failed in the middle of an answer being streamed to the client."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle(self):
        try:
            super().handle()
        except CLIENT_GONE as e:
            _LOG.debug("%s front: client %s:%s went away: %s", self.server.front.name, *self.client_address[:2], e)
            self.close_connection = True

    def _serve(self):
        self.server.front.serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, *args):
        pass


class Front:
    """A reverse proxy on 127.0.0.1 (``port``, or a free one) to ``upstream``; subclasses add rules in
    :meth:`handle`. ``start()`` / ``stop()``; ``url`` is where clients go."""

    name = "front"

    def __init__(self, upstream: str, port: int | None = None):
        parts = urllib.parse.urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self.port = port or free_port()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.front = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=f"{self.name}-front", daemon=True)
        self._locks: dict = {}
        self._locks_guard = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(10)

    def lock(self, key) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    # -- what subclasses override
    def handle(self, request: Request) -> Response:
        return self.forward(request)

    # -- plumbing
    def forward(self, request: Request) -> Response:
        """The upstream's answer to ``request``; its body is streamed to the client unless read."""
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=600)
        headers = {k: v for k, v in request.headers if k.lower() not in _HOP_BY_HOP}
        if request.body or request.method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(request.body))
        conn.request(request.method, request.target, body=request.body or None, headers=headers)
        answer = conn.getresponse()
        return Response(answer.status, [(k, v) for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP],
                        stream=answer, connection=conn)

    def upstream(self, method: str, target: str, body: dict | None = None) -> Response:
        """A request of the front's own to the upstream (no client headers), read whole."""
        data = json.dumps(body).encode() if body is not None else b""
        headers = [("Content-Type", "application/json")] if body is not None else []
        return self.forward(Request(method, target, headers, data)).read()

    def serve(self, handler: BaseHTTPRequestHandler):
        # the client's request is read first: a client gone meanwhile is not the emulator failing to answer
        request = Request(handler.command, handler.path, list(handler.headers.items()), _read_body(handler))
        try:
            response = self.handle(request)
            if response.stream is not None:
                length = response.header("Content-Length", "") or response.stream.getheader("Content-Length")
                if length is None or handler.command == "HEAD":
                    response.read()
        except (OSError, http.client.HTTPException) as e:
            response = error(502, f"{self.name} front: the emulator did not answer: {e}", "backendError")
        handler.send_response(response.status)
        for k, v in response.headers:
            handler.send_header(k, v)
        if response.stream is None:
            handler.send_header("Content-Length", str(len(response.body)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(response.body)
            return
        handler.send_header("Content-Length", length)
        handler.end_headers()
        sent = 0
        try:
            while True:
                try:
                    chunk = response.stream.read(1 << 20)
                except (OSError, http.client.HTTPException) as e:
                    raise UpstreamBroke(f"{self.name} front: the emulator broke off its answer to "
                                        f"{request.method} {request.path}: {e!r}") from e
                if not chunk:
                    break
                handler.wfile.write(chunk)
                sent += len(chunk)
        finally:
            response.connection.close()
        if length.isdigit() and sent < int(length):  # http.client ends a short body quietly
            raise UpstreamBroke(f"{self.name} front: the emulator broke off its answer to {request.method} "
                                f"{request.path} after {sent} of {length} bytes")


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        out = bytearray()
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return bytes(out)
            out += handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


class BigQueryFront(Front):
    """bqemulator as BigQuery answers a job id used before: 409 Already Exists, nothing run."""

    name = "bigquery"
    _JOBS = re.compile(r"^(?:/upload)?/bigquery/v2/projects/(?P<project>[^/]+)/jobs$")

    def __init__(self, upstream: str, port: int | None = None):
        super().__init__(upstream, port)
        self._known: set[tuple[str, str]] = set()

    def handle(self, request: Request) -> Response:
        match = self._JOBS.match(request.path)
        if request.method != "POST" or not match:
            return self.forward(request)
        reference = request.json_part().get("jobReference") or {}
        job_id = reference.get("jobId")
        if not job_id:  # the server names the job: nothing to collide with
            return self.forward(request)
        project = reference.get("projectId") or match["project"]
        key = (project, job_id)
        with self.lock(key):
            if key not in self._known:
                location = reference.get("location") or ""
                found = self.upstream("GET", f"/bigquery/v2/projects/{urllib.parse.quote(project)}/jobs/"
                                             f"{urllib.parse.quote(job_id)}?location={urllib.parse.quote(location)}")
                if found.status == 200:
                    self._known.add(key)
            if key in self._known:
                where = f"{project}:{reference.get('location') or 'US'}.{job_id}"
                return error(409, f"Already Exists: Job {where}", "duplicate", "ALREADY_EXISTS")
            answer = self.forward(request).read()
            if 200 <= answer.status < 300:
                self._known.add(key)
            return answer


_CONDITIONS = ("ifGenerationMatch", "ifGenerationNotMatch", "ifMetagenerationMatch", "ifMetagenerationNotMatch")
_PRECONDITION_FAILED = "At least one of the pre-conditions you specified did not hold."


def unmet(current: dict | None, conditions: dict[str, str], prefix: str = "if") -> bool:
    """Whether Cloud Storage would refuse ``conditions`` (query parameters) on an object whose resource is
    ``current`` (None: it does not exist, generation 0). ``prefix`` "ifSource" reads a copy's source conditions."""
    generation = int(current["generation"]) if current else 0
    metageneration = int(current["metageneration"]) if current else None
    for name, wanted in conditions.items():
        if not name.startswith(prefix) or name[len(prefix):] not in {c[2:] for c in _CONDITIONS}:
            continue
        what = name[len(prefix):]
        if not wanted.lstrip("-").isdigit():
            return True
        wanted = int(wanted)
        if what == "GenerationMatch" and generation != wanted:
            return True
        if what == "GenerationNotMatch" and generation == wanted:
            return True
        if what == "MetagenerationMatch" and metageneration != wanted:
            return True
        if what == "MetagenerationNotMatch" and metageneration == wanted:
            return True
    return False


class StorageFront(Front):
    """gcp-storage-emulator with Cloud Storage's generation preconditions and metadata merging."""

    name = "storage"
    _UPLOAD = re.compile(r"^/upload/storage/v1/b/(?P<bucket>[^/]+)/o$")
    _COPY = re.compile(r"^/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<object>.+)/(?:copyTo|rewriteTo)/b/"
                       r"(?P<dest_bucket>[^/]+)/o/(?P<dest_object>.+)$")
    _COMPOSE = re.compile(r"^/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<object>.+)/compose$")
    _SUB = re.compile(r"^/storage/v1/b/[^/]+/o/.+/(?:acl|restore)$")
    _OBJECT = re.compile(r"^/(?:storage/v1|download/storage/v1)/b/(?P<bucket>[^/]+)/o/(?P<object>.+)$")

    def __init__(self, upstream: str, port: int | None = None):
        super().__init__(upstream, port)
        self._uploads: dict[str, tuple[tuple[str, str], dict]] = {}  # upload_id -> (object, its conditions)

    def current(self, bucket: str, name: str) -> dict | None:
        """The object's live resource as the emulator has it now; None if there is none."""
        found = self.upstream("GET", f"/storage/v1/b/{bucket}/o/{urllib.parse.quote(name, safe='')}")
        return found.json() if found.status == 200 else None

    def handle(self, request: Request) -> Response:
        path, query = request.path, request.query
        if match := self._UPLOAD.match(path):
            return self._upload(request, match["bucket"], query)
        if match := self._COPY.match(path):
            source = (match["bucket"], urllib.parse.unquote(match["object"]))
            dest = (match["dest_bucket"], urllib.parse.unquote(match["dest_object"]))
            with self.lock(dest):
                if unmet(self.current(*source), query, prefix="ifSource"):
                    return self._refused()
                return self._checked(request, dest, query)
        if match := self._COMPOSE.match(path):
            dest = (match["bucket"], urllib.parse.unquote(match["object"]))
            with self.lock(dest):
                return self._checked(request, dest, query)
        if self._SUB.match(path):
            return self.forward(request)
        if match := self._OBJECT.match(path):
            obj = (match["bucket"], urllib.parse.unquote(match["object"]))
            if request.method in ("GET", "HEAD"):
                if "generation" in query or any(c in query for c in _CONDITIONS):
                    current = self.current(*obj)
                    if current is not None and query.get("generation", current["generation"]) != current["generation"]:
                        return self._gone(obj, query["generation"])
                    if current is not None and unmet(current, query):
                        return self._refused()
                return self.forward(request)
            with self.lock(obj):
                current = self.current(*obj)
                if current is not None and query.get("generation", current["generation"]) != current["generation"]:
                    return self._gone(obj, query["generation"])
                if current is not None and unmet(current, query):
                    return self._refused()
                if request.method == "PATCH" and current is not None:
                    request = self._merged_metadata(request, current)
                return self.forward(request).read()
        return self.forward(request)

    def _upload(self, request: Request, bucket: str, query: dict) -> Response:
        upload_id = query.get("upload_id")
        if request.method == "PUT" and upload_id:  # a resumable upload's data: its conditions hold at the end
            started = self._uploads.get(upload_id)
            if started is None:
                return self.forward(request)
            obj, conditions = started
            with self.lock(obj):
                if unmet(self.current(*obj), conditions):
                    self._uploads.pop(upload_id, None)
                    return self._refused()
                answer = self.forward(request).read()
                if answer.status in (200, 201):
                    self._uploads.pop(upload_id, None)
                return answer
        if request.method != "POST":
            return self.forward(request)
        name = query.get("name") or request.json_part().get("name")
        if not name:
            return self.forward(request)
        obj = (bucket, name)
        conditions = {k: v for k, v in query.items() if k in _CONDITIONS}
        with self.lock(obj):
            if unmet(self.current(*obj), conditions):
                return self._refused()
            answer = self.forward(request).read()
        if query.get("uploadType") == "resumable" and conditions:
            location = answer.header("Location")
            started_id = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query)).get("upload_id")
            if started_id:
                self._uploads[started_id] = (obj, conditions)
        return answer

    def _checked(self, request: Request, obj: tuple[str, str], query: dict) -> Response:
        """A write that creates ``obj`` (a copy's or a compose's destination): its conditions hold, or 412."""
        current = self.current(*obj)
        if unmet(current, query):
            return self._refused()
        return self.forward(request).read()

    @staticmethod
    def _merged_metadata(request: Request, current: dict) -> Request:
        """A PATCH whose ``metadata`` keys are merged into the object's, a null value removing its key."""
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return request
        if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
            return request
        merged = {**(current.get("metadata") or {}), **body["metadata"]}
        body["metadata"] = {k: v for k, v in merged.items() if v is not None}
        headers = [(k, v) for k, v in request.headers if k.lower() != "content-type"]
        return Request(request.method, request.target, headers + [("Content-Type", "application/json")],
                       json.dumps(body).encode())

    @staticmethod
    def _gone(obj: tuple[str, str], generation: str) -> Response:
        """A generation that is not the live one: a bucket without versioning keeps no other."""
        return error(404, f"No such object: {obj[0]}/{obj[1]}#{generation}", "notFound")

    @staticmethod
    def _refused() -> Response:
        return error(412, _PRECONDITION_FAILED, "conditionNotMet", locationType="header", location="If-Match")
