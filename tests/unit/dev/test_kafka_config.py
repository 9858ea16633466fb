from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from agentaudit.dev.kafka import cluster_id, fetch_jars, jars_complete, render_properties
from agentaudit.errors import ConfigError


def test_cluster_id_is_urlsafe_base64_of_16_bytes_not_starting_with_dash() -> None:
    for _ in range(500):
        value = cluster_id()
        assert len(value) == 22 and not value.startswith("-") and "=" not in value
        assert len(base64.urlsafe_b64decode(value + "==")) == 16


def test_properties_bind_loopback_on_given_ports_and_allow_transactions_on_one_broker(tmp_path: Path) -> None:
    text = render_properties(19092, 19093, tmp_path / "data")
    props = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == props["listeners"]
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert props["process.roles"] == "broker,controller"
    assert props["log.dirs"] == str(tmp_path / "data")
    # The defaults (3 replicas, min ISR 2) would make these impossible on one broker.
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr"):
        assert props[key] == "1"
    # topics.py allows records up to 8 MiB
    assert int(props["message.max.bytes"]) > 8 * 1024 * 1024
    assert int(props["replica.fetch.max.bytes"]) >= int(props["message.max.bytes"])
    assert "$" not in text


def _fetched(libs: Path, pom: Path, jars: list[str]) -> None:
    libs.mkdir(exist_ok=True)
    for jar in jars:
        (libs / jar).write_bytes(b"jar")
    (libs / ".fetched").write_text("\n".join([hashlib.sha256(pom.read_bytes()).hexdigest(), *jars]) + "\n")


def test_jars_are_complete_only_after_a_finished_fetch_for_this_pom(tmp_path: Path) -> None:
    pom, libs = tmp_path / "pom.xml", tmp_path / "kafka-libs"
    pom.write_text("<project>4.1.1</project>")
    assert not jars_complete(libs, pom)  # never fetched
    libs.mkdir()
    (libs / "kafka_2.13-4.1.1.jar").write_bytes(b"jar")
    assert not jars_complete(libs, pom)  # jars but no stamp: an interrupted fetch
    _fetched(libs, pom, ["kafka_2.13-4.1.1.jar", "log4j-core-2.24.3.jar"])
    assert jars_complete(libs, pom)
    (libs / "log4j-core-2.24.3.jar").unlink()
    assert not jars_complete(libs, pom)  # a jar went missing
    _fetched(libs, pom, ["kafka_2.13-4.1.1.jar", "log4j-core-2.24.3.jar"])
    pom.write_text("<project>4.2.0</project>")
    assert not jars_complete(libs, pom)  # another Kafka version


def test_fetch_without_maven_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text("<project/>")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="Maven"):
        fetch_jars(lambda _line: None, libs=tmp_path / "kafka-libs", pom=pom)
