"""The API as a client sees it: the schema's security scheme, operation ids and headers,
and a client generated from the schema by openapi-python-client, used against a real server.

The generator lives in a venv of its own, ``.venv-tools`` (it pins a typer older than
remit's); ``make tools`` makes it and ``make test`` runs that first.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from remit.db import Database
from remit.ledger.store import journal_entries
from remit.testkit.server import serve
from remit.testkit.web import api_token
from remit.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / ".venv-tools" / "bin"
GENERATOR = TOOLS / "openapi-python-client"
STORY = Path(__file__).parent / "clients" / "generated_client_story.py"
BOOK = "riverside"
RUN_TIMEOUT_S = 120
# The operation ids are part of the API: generated clients name their functions after them.
OPERATIONS = {
    ("get", "/api/v1/books/{book}/accounts"): "listAccounts",
    ("get", "/api/v1/books/{book}/entries"): "listEntries",
    ("post", "/api/v1/books/{book}/entries"): "postEntry",
    ("get", "/api/v1/books/{book}/entries/{entry_id}"): "getEntry",
    ("get", "/api/v1/books/{book}/parties"): "listParties",
    ("post", "/api/v1/books/{book}/parties"): "createParty",
    ("get", "/api/v1/books/{book}/parties/{party_id}"): "getParty",
    ("get", "/api/v1/books/{book}/cases"): "listCases",
    ("post", "/api/v1/books/{book}/cases"): "openCase",
    ("get", "/api/v1/books/{book}/cases/{case_id}"): "getCase",
    ("post", "/api/v1/books/{book}/cases/{case_id}/transitions"): "moveCase",
    ("post", "/api/v1/books/{book}/cases/{case_id}/comments"): "commentOnCase",
    ("post", "/api/v1/books/{book}/care/actual-records"): "importActualRecords",
    ("get", "/api/v1/books/{book}/care/runs"): "listCareRuns",
    ("get", "/api/v1/books/{book}/payments/runs"): "listPaymentRuns",
    ("post", "/api/v1/books/{book}/payments/runs"): "preparePaymentRun",
    ("get", "/api/v1/books/{book}/payments/runs/{pay_run_id}"): "getPaymentRun",
    ("get", "/api/v1/books/{book}/payments/runs/{pay_run_id}/payments"): "listRunPayments",
    ("post", "/api/v1/books/{book}/payments/runs/{pay_run_id}/approve"): "approvePaymentRun",
    ("post", "/api/v1/books/{book}/payments/runs/{pay_run_id}/release"): "releasePaymentRun",
    ("post", "/api/v1/books/{book}/payments/runs/{pay_run_id}/cancel"): "cancelPaymentRun",
    ("post", "/api/v1/books/{book}/payments/runs/{pay_run_id}/settle"): "settlePaymentRun",
    ("get", "/api/v1/books/{book}/payments/{payment_id}"): "getPayment",
    ("post", "/api/v1/books/{book}/payments/{payment_id}/return"): "returnPayment",
}


@pytest.fixture(scope="module")
def schema() -> dict:
    return create_app(Database("sqlite://")).openapi()


def operations(schema: dict) -> dict[tuple[str, str], dict]:
    return {
        (method, path): op
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    }


def headers_of(op: dict) -> set[str]:
    return {p["name"].lower() for p in op.get("parameters", []) if p["in"] == "header"}


def test_every_operation_needs_the_bearer_scheme_not_an_authorization_parameter(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes == {
        "bearerToken": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "rmt_<prefix>_<secret>",
            "description": schemes["bearerToken"]["description"],
        }
    }
    for key, op in operations(schema).items():
        assert op.get("security") == [{"bearerToken": []}], key
        assert "authorization" not in headers_of(op), key


def test_operation_ids_are_short_stable_camel_case_names(schema):
    found = {key: op["operationId"] for key, op in operations(schema).items()}
    assert found == OPERATIONS
    assert all(re.fullmatch(r"[a-z][a-zA-Z]{2,29}", name) for name in found.values())


def test_only_posts_declare_an_idempotency_key_and_they_require_it(schema):
    for (method, path), op in operations(schema).items():
        keys = [p for p in op.get("parameters", []) if p["name"].lower() == "idempotency-key"]
        assert len(keys) == (method == "post"), f"{method} {path}"
        assert all(k["in"] == "header" and k["required"] for k in keys), f"{method} {path}"
        assert all(k["schema"]["maxLength"] == 200 for k in keys)


def test_the_reference_page_says_how_to_authorise(demo_db):
    from fastapi.testclient import TestClient  # noqa: PLC0415

    page = TestClient(create_app(demo_db)).get("/api/docs")
    assert page.status_code == 200
    assert "Authorization: Bearer rmt_" in page.text and "bearerToken" in page.text
    assert "<code>authorization</code>" not in page.text.lower()


def tool(name: str) -> Path:
    path = TOOLS / name
    if not path.exists():
        pytest.fail(
            f"{path} is missing: run `make tools` (make test does) to make the tools venv "
            "with openapi-python-client"
        )
    return path


def run(command: list[str | Path], cwd: Path) -> str:
    done = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"{command[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def entries_with_key(database: Database, key: str) -> int:
    je = journal_entries.c
    with database.read() as conn:
        query = select(func.count()).where(je.idempotency_key == key)
        return int(conn.execute(query).scalar_one())


def test_a_generated_client_lists_gets_and_replays_a_post(demo_db, demo_template, tmp_path):
    generator, python = tool("openapi-python-client"), tool("python")
    token = api_token(demo_db, ["parties:read", "ledger:post"], "generated client")
    database_url = str(demo_db.url)
    _, key = demo_template
    with serve(database_url, key, tmp_path / "server.log") as server:
        with urllib.request.urlopen(f"{server.url}/api/v1/openapi.json") as reply:  # noqa: S310
            (tmp_path / "openapi.json").write_bytes(reply.read())
        config = tmp_path / "generator.json"
        config.write_text(json.dumps({"post_hooks": [], "package_name_override": "remit_client"}))
        made = run(
            [
                generator,
                "generate",
                "--path",
                tmp_path / "openapi.json",
                "--meta",
                "none",
                "--output-path",
                tmp_path / "remit_client",
                "--config",
                config,
            ],
            tmp_path,
        )
        assert "warning" not in made.lower(), made
        seen = json.loads(run([python, STORY, tmp_path, server.url, token, BOOK], tmp_path))

    assert seen["listed"] and seen["party"]["id"] == seen["listed"][0]
    first, again = seen["posts"]
    assert first["status"] == again["status"] == 201
    assert first["replayed"] is None and again["replayed"] == "true"
    assert first["body"] == again["body"] and first["entry_id"] == again["entry_id"]
    assert first["body"]["postings"][1]["party_id"] == seen["party"]["id"]
    assert entries_with_key(demo_db, "api:generated-client-story-1") == 1
