"""Schemathesis fuzzes a real server from its own OpenAPI document, on both backends.

No request may get a 5xx, and every response must be one the document describes: its status code,
content type, headers and body schema (including each SSE event of the streams, against `RunEvent`).
The stateful phase follows the ids responses return (projects, sessions, runs, changes), so the
fuzzer reaches real objects, not only 404s. The seed is fixed (the stateful phase still follows
what the server answers); a failure prints schemathesis' report with a `curl` line per case.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ServerFactory

# Every check but one: `positive_data_acceptance` wants every schema-valid request accepted, and a
# JSON schema cannot say all the rules a request must follow (a path that stays inside the project,
# a message that is not only whitespace, a template that exists). Those are refused with 422, which
# every operation documents.
ARGUMENTS = [
    "--checks=all",
    "--exclude-checks=positive_data_acceptance",
    "--max-examples=40",
    "--seed=20261124",
    "--workers=1",
    # A stream ends with its run; the scripted model finishes a run in well under a second.
    "--request-timeout=10",
    # A project's event stream ends only with the project: every real id would wait out the timeout.
    # tests/api/test_project_events.py and test_accounts.py cover it.
    "--exclude-path-regex=/events$",
    "--generation-database=none",
    "--no-color",
]


@pytest.mark.timeout(400)
def test_fuzz_finds_no_server_error_and_no_undocumented_response(start_server: ServerFactory, tmp_path: Path) -> None:
    server = start_server(TANDEM_MODEL="scripted")
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/api/v1/openapi.json", *ARGUMENTS],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=360,
        check=False,
    )
    summary = re.search(r"(\d+) generated", result.stdout)
    print(f"schemathesis: {summary.group(0) if summary else 'no summary'}")
    assert server.log_path is not None
    assert result.returncode == 0, (
        f"{result.stdout[-30_000:]}\n{result.stderr[-5_000:]}\nserver log:\n{server.log_path.read_text()[-10_000:]}"
    )
