"""The query API against its own OpenAPI document, fuzzed by Schemathesis (property-based, from the spec).

Every operation gets generated requests, valid and invalid, with an analyst's
key: none may fail with a server error, every status must be one the document
lists for that operation, and every answer must be the JSON it promises. A
parameter the server parses but the document omits (or the other way round)
shows up here as a refused-but-valid or accepted-but-invalid request.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_api import Env, env  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "negative_data_rejection")


@pytest.mark.parametrize("who", ["analyst", "admin"])
def test_every_operation_answers_as_its_openapi_document_says(env: Env, who: str, tmp_path: Path) -> None:  # noqa: F811
    schemathesis = Path(sys.executable).with_name("schemathesis")
    done = subprocess.run(
        [str(schemathesis), "run", f"{env.http.base}/v1/openapi.json", "--url", env.http.base,
         "-H", f"Authorization: Bearer {env.keys[who]}", "--checks", ",".join(CHECKS),
         "--max-examples", "15", "--seed", "7", "--generation-deterministic", "--no-color",
         "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    # Generated URLs run to hundreds of kilobytes: cut every line short.
    shown = "\n".join(line[:300] for line in done.stdout.splitlines())
    assert done.returncode == 0, shown[-8000:] + done.stderr[-2000:]
