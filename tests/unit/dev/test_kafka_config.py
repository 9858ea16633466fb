from __future__ import annotations

import base64
from pathlib import Path

from agentaudit.dev.kafka import cluster_id, render_properties


def test_cluster_id_is_urlsafe_base64_of_16_bytes_not_starting_with_dash() -> None:
    for _ in range(200):
        value = cluster_id()
        assert len(value) == 22 and not value.startswith("-") and "=" not in value
        assert len(base64.urlsafe_b64decode(value + "==")) == 16


def test_properties_bind_loopback_on_given_ports_and_allow_transactions_on_one_broker(tmp_path: Path) -> None:
    text = render_properties(19092, 19093, tmp_path / "data")
    props = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert props["log.dirs"] == str(tmp_path / "data")
    # The defaults (3 replicas, min ISR 2) would make these impossible on one broker.
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert int(props["message.max.bytes"]) > 8 * 1024 * 1024
    assert "${" not in text
