"""Finalize events for the local stack: the Cloud Storage emulator sends no notifications, so the router lists the
bucket, and for every object generation it has not seen yet it POSTs the CloudEvent that Eventarc would send
(``google.cloud.storage.object.v1.finalized``, binary content mode) to the function."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import datetime, timezone

import requests

FINALIZED = "google.cloud.storage.object.v1.finalized"
_LOG = logging.getLogger(__name__)


def finalize_event(obj: dict) -> tuple[dict, bytes]:
    """Headers and body of the CloudEvent for one object resource (as the JSON API returns it)."""
    headers = {
        "ce-specversion": "1.0",
        "ce-type": FINALIZED,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{obj['bucket']}",
        "ce-subject": f"objects/{obj['name']}",
        "ce-id": str(uuid.uuid4()),
        "ce-time": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "content-type": "application/json",
    }
    return headers, json.dumps(obj).encode()


def deliver(function_url: str, obj: dict, timeout: float = 60) -> requests.Response:
    """Send one finalize event to the function; its HTTP answer (2xx: handled, else the platform would retry)."""
    headers, body = finalize_event(obj)
    return requests.post(function_url, headers=headers, data=body, timeout=timeout)


def list_objects(storage_url: str, bucket: str) -> list[dict]:
    items, token = [], None
    while True:
        params = {"pageToken": token} if token else {}
        page = requests.get(f"{storage_url}/storage/v1/b/{bucket}/o", params=params, timeout=30).json()
        items += page.get("items", [])
        token = page.get("nextPageToken")
        if not token:
            return items


class FinalizeRouter:
    """Polls the bucket every ``interval`` seconds and delivers one event per new (object, generation); a failed
    delivery is tried again at the next poll, as the platform retries."""

    def __init__(self, storage_url: str, bucket: str, function_url: str, interval: float = 0.5):
        self.storage_url, self.bucket, self.function_url, self.interval = storage_url, bucket, function_url, interval
        self.delivered: list[tuple[str, str]] = []
        self._seen: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        self._polling = threading.Lock()  # one poll at a time: the loop and callers of poll_once
        self._thread = threading.Thread(target=self._loop, name="finalize-router", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(30)

    def poll_once(self) -> int:
        with self._polling:
            return self._poll()

    def _poll(self) -> int:
        sent = 0
        for obj in list_objects(self.storage_url, self.bucket):
            key = (obj["name"], str(obj.get("generation")))
            if key in self._seen:
                continue
            try:
                answer = deliver(self.function_url, obj)
            except requests.RequestException as e:
                _LOG.warning("finalize event for %s not delivered: %s", key[0], e)
                continue
            if answer.ok:
                self._seen.add(key)
                self.delivered.append(key)
                sent += 1
            else:
                _LOG.warning("function answered %s for %s; will retry", answer.status_code, key[0])
        return sent

    def _loop(self):
        while not self._stop.wait(self.interval):
            try:
                self.poll_once()
            except requests.RequestException as e:
                _LOG.warning("listing the bucket failed: %s", e)
