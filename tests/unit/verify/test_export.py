"""verify's outcome as Prometheus metrics: a node-exporter textfile or a Pushgateway push."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from agentaudit.cli import _register, cli
from agentaudit.verify.agents import Report
from agentaudit.verify.checks import AgentResult, Finding
from agentaudit.verify.export import MetricsExport


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def report(*findings: Finding) -> Report:
    agent = AgentResult("agent-1", records=120, seals=3, findings=list(findings))
    return Report(agents=[agent, AgentResult("agent-2", records=30, seals=1)], seconds=0.5)


def test_the_textfile_holds_the_outcome_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "agentaudit_verify.prom"
    bad = report(Finding("record_modified", "agent-1", "x", position=7), Finding("seal_gap", "agent-1", "y"),
                 Finding("seal_gap", "agent-1", "z"))
    MetricsExport(textfile=path).export(bad, seconds=1.25)
    got = samples(path.read_text())
    assert got[("agentaudit_verify_success", ())] == 0
    assert got[("agentaudit_verify_records", ())] == 150
    assert got[("agentaudit_verify_seals", ())] == 4
    assert got[("agentaudit_verify_duration_seconds", ())] == 1.25
    assert got[("agentaudit_verify_problems", (("kind", "record_modified"),))] == 1
    assert got[("agentaudit_verify_problems", (("kind", "seal_gap"),))] == 2
    assert got[("agentaudit_verify_last_run_timestamp_seconds", ())] > 1.7e9
    assert {name.split("_")[1] for name, _ in got} == {"verify"}, "no process or platform collectors"
    assert [p.name for p in tmp_path.iterdir()] == [path.name], "the temporary file was renamed, not left"

    MetricsExport(textfile=path).export(report(), seconds=1.0)  # the next run replaces the file
    got = samples(path.read_text())
    assert got[("agentaudit_verify_success", ())] == 1
    assert not [key for key in got if key[0] == "agentaudit_verify_problems"], "fixed problems do not linger"


def test_a_run_with_nothing_to_verify_or_that_crashed_is_no_success(tmp_path: Path) -> None:
    path = tmp_path / "v.prom"
    MetricsExport(textfile=path).export(Report(), seconds=0.1)
    got = samples(path.read_text())
    assert got[("agentaudit_verify_success", ())] == 0
    assert got[("agentaudit_verify_problems", (("kind", "nothing_to_verify"),))] == 1
    MetricsExport(textfile=path).export(None, seconds=0.1)
    got = samples(path.read_text())
    assert got[("agentaudit_verify_success", ())] == 0
    assert got[("agentaudit_verify_problems", (("kind", "verify_error"),))] == 1


@pytest.fixture
def pushgateway() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """An HTTP server standing in for a Pushgateway: records (method, path, body)."""
    received: list[tuple[str, str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            received.append(("PUT", self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_the_outcome_is_pushed_replacing_the_previous_run(
    pushgateway: tuple[str, list[tuple[str, str, bytes]]],
) -> None:
    url, received = pushgateway
    MetricsExport(pushgateway=url).export(report(), seconds=2.0)
    [(method, path, body)] = received
    assert (method, path) == ("PUT", "/metrics/job/agentaudit_verify")  # PUT: the group's old series go
    assert samples(body.decode())[("agentaudit_verify_success", ())] == 1


def test_an_unreachable_pushgateway_is_an_error() -> None:
    with pytest.raises(OSError):
        MetricsExport(pushgateway="http://127.0.0.1:9").export(report(), seconds=1.0)


# --- the command ---------------------------------------------------------------


def run(args: list[str], home: Path) -> tuple[int, str]:
    _register()
    result = CliRunner().invoke(cli, args, env={"AGENTAUDIT_HOME": str(home)})
    return result.exit_code, result.output


def test_verify_reports_a_run_that_could_not_finish(tmp_path: Path) -> None:
    path = tmp_path / "v.prom"
    code, _output = run(["verify", "--metrics-textfile", str(path)], tmp_path)  # no keyring here
    assert code != 0
    got = samples(path.read_text())
    assert got[("agentaudit_verify_success", ())] == 0
    assert got[("agentaudit_verify_problems", (("kind", "verify_error"),))] == 1


@pytest.mark.parametrize("args", [["--metrics-textfile", "out.txt"],
                                  ["--pushgateway", "http://127.0.0.1:9", "--bundle", "."]])
def test_verify_refuses_metrics_it_could_not_deliver(tmp_path: Path, args: list[str]) -> None:
    code, output = run(["verify", *args], tmp_path)
    assert code == 2, output


def test_verify_help_documents_the_metrics(tmp_path: Path) -> None:
    _code, output = run(["verify", "--help"], tmp_path)
    for name in ("--metrics-textfile", "--pushgateway", "agentaudit_verify_success",
                 "agentaudit_verify_last_run_timestamp_seconds", "agentaudit_verify_problems"):
        assert name in output
