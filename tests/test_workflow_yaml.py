"""Static checks of workflows/load_to_bigquery.yaml: what the emulator would not catch before a step runs."""

from __future__ import annotations

import re

import yaml

from tests.helpers import ROOT

WORKFLOW = yaml.safe_load((ROOT / "workflows" / "load_to_bigquery.yaml").read_text())
# What functions/ingest.py puts in the argument (schema only when there is one).
FUNCTION_SENDS = {"bucket", "object", "object_path", "generation", "format", "project", "dataset", "table",
                  "location", "job_id", "schema_object", "schema_object_path", "bigquery_url", "storage_url",
                  "schema"}
STDLIB_CALLS = {"http.get", "http.post", "http.patch", "sys.sleep", "sys.log"}


def steps_of(steps):
    """Every step (name, body) at any depth, with the names visible at that level."""
    for item in steps:
        ((name, body),) = item.items()
        yield name, body
        if "steps" in body:
            yield from steps_of(body["steps"])
        if "steps" in body.get("for", {}):
            yield from steps_of(body["for"]["steps"])
        for branch in ("try", "except"):
            if branch in body and "steps" in body[branch]:
                yield from steps_of(body[branch]["steps"])
        for condition in body.get("switch", []):
            if "steps" in condition:
                yield from steps_of(condition["steps"])


def test_every_jump_and_call_has_a_target():
    for workflow, definition in WORKFLOW.items():
        steps = list(steps_of(definition["steps"]))
        names = [n for n, _ in steps]
        assert len(names) == len(set(names)), f"{workflow}: a step name is used twice"
        for name, body in steps:
            targets = [body.get("next")] + [c.get("next") for c in body.get("switch", [])]
            for target in filter(None, targets):
                assert target in names or target in ("end", "break", "continue"), (workflow, name, target)
            calls = [body.get("call"), body.get("try", {}).get("call")] if isinstance(body.get("try", {}), dict) else []
            for call in filter(None, calls):
                assert call in STDLIB_CALLS or call in WORKFLOW, (workflow, name, call)
            predicate = body.get("retry", {}).get("predicate") if isinstance(body.get("retry"), dict) else None
            if predicate:
                assert predicate.strip("${}") in WORKFLOW, (workflow, name, predicate)


def test_the_workflow_reads_only_what_the_function_sends():
    text = (ROOT / "workflows" / "load_to_bigquery.yaml").read_text()
    used = set(re.findall(r"\bargs\.([a-z_]+)", text)) | set(re.findall(r'map\.get\(args, "([a-z_]+)"\)', text)) | set(
        re.findall(r'"([a-z_]+)" in args', text))
    assert used <= FUNCTION_SENDS, used - FUNCTION_SENDS
    required = set(re.findall(r"\bargs\.([a-z_]+)", text)) - {"schema"}  # schema is read only when present
    assert required <= FUNCTION_SENDS - {"schema"}


def test_every_http_call_retries_transient_errors_with_one_policy():
    policies = []
    for workflow, definition in WORKFLOW.items():
        for name, body in steps_of(definition["steps"]):
            call = body.get("call") or body.get("try", {}).get("call")
            if call and call.startswith("http."):
                assert "try" in body and body.get("retry", {}).get("predicate") == "${transient}", (workflow, name)
                policies.append(body["retry"])
    assert len(policies) == 7 and all(p == policies[0] for p in policies), policies  # written out, kept equal


def test_the_function_sends_what_the_workflow_reads():
    source = (ROOT / "functions" / "ingest.py").read_text()
    sent = set(re.findall(r'^\s+"([a-z_]+)": ', source, re.MULTILINE)) | set(re.findall(r'argument\["([a-z_]+)"\]',
                                                                                      source))
    assert FUNCTION_SENDS <= sent, FUNCTION_SENDS - sent
