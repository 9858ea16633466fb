"""docker-compose.yml against the CLI, the settings, ClickHouse's accounts and Prometheus.

Nothing here needs a Docker engine: every reference the deployment files make
(a command, an option, a setting, a service, a volume, a port, a password) is
resolved against the code or against the other files, so a typo fails here
and not at `docker compose up`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlsplit

import click
import pytest
import yaml

from agentaudit.settings import Settings, describe
from agentaudit.topics import TOPIC_SPECS
from tests.unit.deploy.compose_support import (
    CLICKHOUSE_USERS_FILE,
    COMPOSE_FILE,
    COMPOSE_README,
    DOCKERFILE,
    DOCKERIGNORE,
    PROMETHEUS_FILE,
    ROOT,
    SETTING_NAME,
    as_argv,
    dockerfile_entrypoint,
    environment,
    listeners,
    load_compose,
    raw_compose,
    resolve_command,
    variables,
    strings,
    volume_mounts,
)

ALLOWED_CONDITIONS = {"service_healthy", "service_completed_successfully"}
SETTINGS = {env for env, _default, _doc in describe()}

Services = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> Services:
    return dict(compose["services"])


def is_agentaudit(service: dict[str, Any]) -> bool:
    return "build" in service or str(service.get("image", "")).startswith("agentaudit")


def is_on_demand(service: dict[str, Any]) -> bool:
    """In a Compose profile: `docker compose up` leaves it alone, `docker compose run` runs it."""
    return bool(service.get("profiles"))


def is_init_job(service: dict[str, Any]) -> bool:
    return service.get("restart") == "no" and not is_on_demand(service)


def agentaudit_services(services: Services) -> Services:
    return {name: s for name, s in services.items() if is_agentaudit(s)}


def long_running(services: Services) -> Services:
    return {
        name: s for name, s in agentaudit_services(services).items() if not is_init_job(s) and not is_on_demand(s)
    }


def argv_of(service: dict[str, Any]) -> list[str]:
    """The words after `agentaudit` that the container runs."""
    entrypoint = as_argv(service.get("entrypoint")) or dockerfile_entrypoint()
    assert entrypoint == ["agentaudit"], f"entrypoint {entrypoint} is not the agentaudit CLI"
    return as_argv(service.get("command"))


def command_path(service: dict[str, Any]) -> list[str]:
    return resolve_command(argv_of(service))


# --- the commands ----------------------------------------------------------


def test_there_is_a_pipeline_to_check(services: Services) -> None:
    paths = {" ".join(command_path(s)) for s in agentaudit_services(services).values()}
    assert {"topics ensure", "db migrate", "process", "sink"} <= paths


def test_every_agentaudit_command_and_option_exists(services: Services) -> None:
    for name, service in agentaudit_services(services).items():
        try:
            command_path(service)
        except click.UsageError as exc:
            pytest.fail(f"service {name}: `agentaudit {' '.join(argv_of(service))}`: {exc.format_message()}")


@pytest.mark.parametrize(
    "argv",
    [["topics", "ensur"], ["db"], ["sink", "--no-migrat"], ["process", "--loglevel"], ["-x", "process"], ["procss"]],
)
def test_the_resolver_rejects_what_click_would(argv: list[str]) -> None:
    with pytest.raises(click.UsageError):
        resolve_command(argv)


def test_the_resolver_accepts_real_commands() -> None:
    assert resolve_command(["-v", "db", "migrate"]) == ["db", "migrate"]
    assert resolve_command(["sink", "--no-migrate"]) == ["sink"]


def test_the_image_runs_the_cli_as_a_non_root_user() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert dockerfile_entrypoint() == ["agentaudit"]
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must end as a non-root user"


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    assert {".venv", "var", "deploy/local/target", "deploy/local/registry/target", ".git"} <= ignored


# --- health and start-up order ----------------------------------------------


def test_every_service_has_a_healthcheck_or_runs_once(services: Services) -> None:
    for name, service in services.items():
        restart = service.get("restart")
        assert restart is not False, f"service {name}: write restart: \"no\" quoted (YAML reads no as false)"
        assert restart in ("no", "always", "unless-stopped", "on-failure"), f"service {name}: restart {restart!r}"
        if is_init_job(service) or is_on_demand(service):
            assert "healthcheck" not in service and "deploy" not in service, f"{name} runs once, alone"
            assert not is_on_demand(service) or restart == "no", f"on-demand {name} must not restart"
            continue
        check = service.get("healthcheck")
        assert check and not check.get("disable") and check.get("test") not in (["NONE"], "NONE"), (
            f"long-running service {name} has no healthcheck"
        )


def test_depends_on_waits_for_health_or_success(services: Services) -> None:
    awaited_jobs: set[str] = set()
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"service {name}: depends_on needs the long form with a condition"
        for target, spec in depends.items():
            assert target in services, f"service {name} depends on unknown service {target}"
            # `up` would refuse: a service in no profile cannot wait for one that is not started.
            assert is_on_demand(service) or not is_on_demand(services[target]), f"{name} waits for on-demand {target}"
            condition = (spec or {}).get("condition")
            assert condition in ALLOWED_CONDITIONS, f"{name} -> {target}: condition {condition!r}"
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target} to be healthy; it has no check"
            else:
                assert is_init_job(services[target]), f"{name} waits for {target} to finish; it is not a run-once job"
                awaited_jobs.add(target)
    jobs = {name for name, s in services.items() if is_init_job(s)}
    assert jobs == awaited_jobs, f"init jobs nothing waits for: {sorted(jobs - awaited_jobs)}"


def test_the_pipeline_starts_after_topics_and_schema(services: Services) -> None:
    by_command = {" ".join(command_path(s)): name for name, s in agentaudit_services(services).items()}
    topics, migrate = by_command["topics ensure"], by_command["db migrate"]
    assert topics in services[by_command["process"]]["depends_on"]
    assert {topics, migrate} <= set(services[by_command["sink"]]["depends_on"])


# --- settings ----------------------------------------------------------------


def test_every_agentaudit_variable_is_a_setting() -> None:
    for path in (COMPOSE_FILE, DOCKERFILE, COMPOSE_README):
        unknown = set(SETTING_NAME.findall(path.read_text())) - SETTINGS
        assert not unknown, f"{path.relative_to(ROOT)} names variables that are no setting: {sorted(unknown)}"


def test_every_service_environment_is_valid_settings(services: Services) -> None:
    for name, service in agentaudit_services(services).items():
        env = environment(service)
        unknown = {key for key in env if key.startswith("AGENTAUDIT_")} - SETTINGS
        assert not unknown, f"service {name}: {sorted(unknown)} are no settings"
        Settings.from_env(env)  # types and validation, as the container would at start-up


def test_every_interpolated_variable_has_a_default() -> None:
    missing = {v.name for text in strings(raw_compose()) for v in variables(text) if not v.has_default}
    assert not missing, f"a plain `docker compose up` would leave these empty: {sorted(missing)}"


def test_stages_agree_on_the_shared_settings(services: Services) -> None:
    for key in ("AGENTAUDIT_PARTITIONS", "AGENTAUDIT_TOPIC_PREFIX", "AGENTAUDIT_CLICKHOUSE_DATABASE"):
        values = {environment(s).get(key) for s in agentaudit_services(services).values()}
        assert len(values) == 1, f"{key} differs between agentaudit services: {values}"


# --- Kafka -------------------------------------------------------------------


def kafka_env(services: Services) -> dict[str, str]:
    brokers = [s for s in services.values() if str(s.get("image", "")).startswith("apache/kafka:4.1.")]
    assert len(brokers) == 1, "one apache/kafka 4.1.x service expected"
    return environment(brokers[0])


def test_every_stage_reaches_an_advertised_listener(services: Services) -> None:
    advertised = set(listeners(kafka_env(services)["KAFKA_ADVERTISED_LISTENERS"]).values())
    for name, service in agentaudit_services(services).items():
        for server in environment(service)["AGENTAUDIT_KAFKA_BOOTSTRAP"].split(","):
            host, port = server.rsplit(":", 1)
            assert host in services, f"service {name}: bootstrap host {host} is no compose service"
            assert (host, int(port)) in advertised, f"service {name}: {server} is not advertised by the broker"


def test_the_broker_is_single_node_kraft_that_takes_our_largest_messages(services: Services) -> None:
    env = kafka_env(services)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["CLUSTER_ID"] and env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(env["KAFKA_NODE_ID"] + "@")
    declared = set(listeners(env["KAFKA_LISTENERS"]))
    assert set(listeners(env["KAFKA_ADVERTISED_LISTENERS"])) <= declared
    assert set(env["KAFKA_CONTROLLER_LISTENER_NAMES"].split(",")) <= declared
    for key in ("OFFSETS_TOPIC_REPLICATION_FACTOR", "TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                "TRANSACTION_STATE_LOG_MIN_ISR"):
        assert env[f"KAFKA_{key}"] == "1", f"KAFKA_{key} must be 1 on one broker"
    largest = max(int(spec.config["max.message.bytes"]) for spec in TOPIC_SPECS)
    assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) >= largest
    assert int(env["KAFKA_REPLICA_FETCH_MAX_BYTES"]) >= largest
    for service in agentaudit_services(services).values():
        assert int(environment(service)["AGENTAUDIT_REPLICATION_FACTOR"]) <= 1, "more replicas than brokers"


# --- volumes -----------------------------------------------------------------


def test_named_volumes_are_declared_and_bind_mounts_exist(compose: dict[str, Any], services: Services) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in services.items():
        for kind, source, _target in volume_mounts(service):
            if kind == "volume":
                assert source in declared, f"service {name}: volume {source} is not declared under volumes:"
                used.add(source)
            else:
                assert (ROOT / source).exists(), f"service {name}: bind mount {source} does not exist"
    assert declared == used, f"declared but unused volumes: {sorted(declared - used)}"


# --- ClickHouse accounts -------------------------------------------------------


def clickhouse_users() -> dict[str, ET.Element]:
    users = ET.parse(CLICKHOUSE_USERS_FILE).getroot().find("users")
    assert users is not None
    return {u.tag: u for u in users if u.get("remove") is None}


def clickhouse_service(services: Services) -> dict[str, Any]:
    found = [s for s in services.values() if str(s.get("image", "")).startswith("clickhouse/clickhouse-server:")]
    assert len(found) == 1, "one clickhouse/clickhouse-server service expected"
    return found[0]


def test_clickhouse_takes_its_accounts_from_our_users_file(services: Services) -> None:
    server = clickhouse_service(services)
    assert environment(server).get("CLICKHOUSE_SKIP_USER_SETUP") == "1", "the entrypoint would write its own users"
    targets = {
        target for kind, source, target in volume_mounts(server)
        if kind == "bind" and (ROOT / source).resolve() == CLICKHOUSE_USERS_FILE
    }
    assert any(t.startswith("/etc/clickhouse-server/users.d/") for t in targets)
    assert set(clickhouse_users()) >= {"admin", "writer"}


def test_every_dsn_logs_in_with_the_password_the_server_gets(services: Services) -> None:
    server_env = environment(clickhouse_service(services))
    users = clickhouse_users()
    for name, service in agentaudit_services(services).items():
        dsn = environment(service).get("AGENTAUDIT_CLICKHOUSE_DSN")
        if not dsn:
            continue
        url = urlsplit(dsn)
        assert url.hostname in services and url.port == 8123, f"service {name}: {url.hostname}:{url.port}"
        assert url.username in users, f"service {name}: no ClickHouse account {url.username}"
        password = users[url.username].find("password")
        assert password is not None and password.get("from_env"), f"{url.username}: password not from_env"
        assert server_env.get(password.get("from_env", "")) == url.password, (
            f"service {name}: the password in its DSN is not the one the server gives {url.username}"
        )


def test_only_unrestricted_accounts_run_migrations(services: Services) -> None:
    users = clickhouse_users()
    for name, service in agentaudit_services(services).items():
        dsn = environment(service).get("AGENTAUDIT_CLICKHOUSE_DSN")
        if not dsn:
            continue
        restricted = users[urlsplit(dsn).username or ""].find("grants") is not None
        path, argv = command_path(service), argv_of(service)
        if restricted:
            assert path != ["db", "migrate"], f"service {name}: a restricted account cannot run DDL"
            assert path != ["sink"] or "--no-migrate" in argv, f"service {name}: sink must not migrate"


# --- Prometheus ----------------------------------------------------------------


def scrape_targets() -> list[tuple[str, str, int, bool]]:
    """(job, host, port, discovered by DNS) for every target in prometheus.yml."""
    config = yaml.safe_load(PROMETHEUS_FILE.read_text())
    out = []
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                out.append((job["job_name"], host, int(port), False))
        for dns in job.get("dns_sd_configs", []):
            out.extend((job["job_name"], host, int(dns["port"]), True) for host in dns["names"])
    return out


def test_prometheus_scrapes_real_services_on_their_metrics_port(services: Services) -> None:
    for job, host, port, _dns in scrape_targets():
        if host == "localhost":
            assert job == "prometheus" and port == 9090, f"job {job}: localhost means Prometheus itself"
            continue
        assert host in services, f"job {job}: {host} is no compose service"
        if not is_agentaudit(services[host]):  # an exporter (the Pushgateway) on its own port
            assert str(port) in [str(p) for p in services[host].get("expose", [])], f"{host} does not expose {port}"
            continue
        env = environment(services[host])
        assert str(port) == env.get("AGENTAUDIT_METRICS_PORT"), f"job {job}: {host} serves metrics elsewhere"
        assert str(port) in [str(p) for p in services[host].get("expose", [])], f"{host} does not expose {port}"


def test_every_long_running_stage_is_scraped(services: Services) -> None:
    scraped = {host for _job, host, _port, _dns in scrape_targets()}
    for name, service in long_running(services).items():
        assert int(environment(service)["AGENTAUDIT_METRICS_PORT"]) > 0, f"{name}: fixed metrics port needed"
        assert name in scraped, f"service {name} is not scraped by prometheus.yml"


def test_scalable_services_can_scale(services: Services) -> None:
    by_dns = {host for _job, host, _port, dns in scrape_targets() if dns}
    for name, service in services.items():
        if "replicas" not in (service.get("deploy") or {}):
            continue
        assert "container_name" not in service, f"{name}: a container_name allows one replica only"
        assert not service.get("ports"), f"{name}: a published port allows one replica only"
        assert name in by_dns, f"{name}: scrape it by DNS discovery so that every replica is a target"


def test_prometheus_mounts_this_configuration(services: Services) -> None:
    mounts = {
        (ROOT / source).resolve(): target
        for kind, source, target in volume_mounts(services["prometheus"]) if kind == "bind"
    }
    assert mounts.get(PROMETHEUS_FILE) == "/etc/prometheus/prometheus.yml"
