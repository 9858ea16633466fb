"""Routes file validation and routing by change, severity and tenant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentaudit.alert.routes import PAGERDUTY_URL, RouteKind, load_routes, parse_routes, routes_for
from agentaudit.errors import ConfigError
from tests.unit.alert.support import incident

ENV = {"PD_KEY": "pd-secret-routing-key", "SLACK_URL": "https://hooks.slack.com/services/T0/B0/slacksecret",
       "AUTH": "Bearer hook-secret"}


def routes_doc(*routes: dict[str, Any]) -> dict[str, Any]:
    return {"routes": list(routes)}


FULL = routes_doc(
    {"name": "pd", "kind": "pagerduty", "routing_key_env": "PD_KEY", "match": {"min_severity": "high"}},
    {"name": "chat", "kind": "slack", "url_env": "SLACK_URL", "match": {"min_severity": "medium", "tenants": ["acme"]}},
    {"name": "siem", "kind": "webhook", "url": "https://siem.example.com/in", "headers": {"Authorization": "AUTH"}},
    {"name": "am", "kind": "alertmanager", "url": "http://am.example.com:9093/", "match": {"tenants": "*"}},
)


def test_a_valid_file_resolves_secrets_from_the_environment(tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "routes.yaml"
    path.write_text(yaml.safe_dump(FULL))
    pd, chat, siem, am = load_routes(path, ENV)
    assert (pd.kind, pd.url, pd.routing_key, pd.min_severity, pd.tenants) == (
        RouteKind.PAGERDUTY, PAGERDUTY_URL, "pd-secret-routing-key", "high", None)
    assert chat.url == ENV["SLACK_URL"] and chat.tenants == frozenset({"acme"})
    assert siem.headers == {"Authorization": "Bearer hook-secret"} and siem.min_severity == "info"
    assert am.url == "http://am.example.com:9093/api/v2/alerts"


def test_repr_shows_no_secret() -> None:
    for route in parse_routes(FULL, ENV):
        assert not any(secret in repr(route) for secret in ENV.values())


def test_an_incident_goes_to_every_matching_route() -> None:
    pd, chat, siem, am = routes = parse_routes(FULL, ENV)
    assert routes_for(routes, incident(severity="critical", tenant="acme")) == (pd, chat, siem, am)
    assert routes_for(routes, incident(severity="medium", tenant="acme")) == (chat, siem, am)
    assert routes_for(routes, incident(severity="medium", tenant="globex")) == (siem, am)
    assert routes_for(routes, incident(severity="info", tenant="globex")) == (siem, am)


def test_hits_never_page_and_alertmanager_takes_no_acknowledgement() -> None:
    pd, chat, siem, am = routes = parse_routes(FULL, ENV)
    assert routes_for(routes, incident("hits", severity="critical")) == ()
    assert routes_for(routes, incident("contained", severity="critical")) == ()
    assert routes_for(routes, incident("acknowledged", severity="critical")) == (pd, chat, siem)
    assert routes_for(routes, incident("resolved", severity="critical")) == (pd, chat, siem, am)


def bad(route: dict[str, Any], env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as err:
        parse_routes(routes_doc(route), ENV if env is None else env)
    return str(err.value)


@pytest.mark.parametrize(("route", "message"), [
    ({"name": "x", "kind": "email", "url": "https://a.b"}, "unknown kind 'email'"),
    ({"name": "x", "kind": "webhook", "url": "ftp://a.b/c"}, "url 'ftp://a.b/c' is not an http(s) URL"),
    ({"name": "x", "kind": "webhook", "url": "https:///nohost"}, "is not an http(s) URL with a host"),
    ({"name": "x", "kind": "webhook"}, "needs url"),
    ({"name": "x", "kind": "webhook", "url": "https://u:p@a.b/c"}, "carries credentials"),
    ({"name": "x", "kind": "webhook", "url": "https://a.b", "url_env": "SLACK_URL"}, "not both"),
    ({"name": "x", "kind": "pagerduty"}, "routing_key_env must name an environment variable"),
    ({"name": "x", "kind": "pagerduty", "routing_key_env": "NOPE"}, "environment variable NOPE (routing_key_env) is not set"),
    ({"name": "x", "kind": "webhook", "url": "https://a.b", "headers": {"X-Token": "NOPE"}},
     "environment variable NOPE (headers.X-Token) is not set"),
    ({"name": "x", "kind": "webhook", "url": "https://a.b", "routing_key_env": "PD_KEY"}, "for kind pagerduty only"),
    ({"name": "x", "kind": "pagerduty", "routing_key": "abc"}, "secrets go in environment variables"),
    ({"name": "x", "kind": "webhook", "url": "https://a.b", "match": {"min_severity": "urgent"}}, "min_severity 'urgent'"),
    ({"name": "x", "kind": "webhook", "url": "https://a.b", "match": {"tenants": []}}, "tenants must be"),
    ({"name": "x", "kind": "webhook", "url": "https://a.b", "match": {"severity": "high"}}, "match takes"),
    ({"name": "x", "kind": "webhook", "url": "https://a.b", "timeout_s": 0}, "timeout_s must be a positive"),
    ({"name": "x", "kind": "webhook", "url": "https://a.b", "ca_file": "/no/such/ca.pem"}, "is not a file"),
    ({"kind": "webhook", "url": "https://a.b"}, "needs a name"),
])
def test_invalid_routes_are_refused_with_the_route_and_the_fix(route: dict[str, Any], message: str) -> None:
    assert message in bad(route)


def test_a_secret_url_is_never_quoted_in_an_error() -> None:
    message = bad({"name": "x", "kind": "slack", "url_env": "SLACK_URL"}, {"SLACK_URL": "not a url sekret"})
    assert "sekret" not in message and "the URL in SLACK_URL" in message


def test_file_level_errors() -> None:
    with pytest.raises(ConfigError, match="top-level 'routes:' list"):
        parse_routes({"routes": []}, ENV)
    with pytest.raises(ConfigError, match="unknown top-level keys"):
        parse_routes({"routes": FULL["routes"], "route": []}, ENV)
    with pytest.raises(ConfigError, match="names must be unique; repeated: pd"):
        parse_routes(routes_doc(FULL["routes"][0], FULL["routes"][0]), ENV)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read routes file"):
        load_routes(tmp_path / "missing.yaml", ENV)
    broken = tmp_path / "broken.yaml"
    broken.write_text("routes: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_routes(broken, ENV)


def test_the_example_file_is_valid() -> None:
    example = Path(__file__).resolve().parents[3] / "deploy" / "alert" / "routes.example.yaml"
    env = {"AGENTAUDIT_PAGERDUTY_ROUTING_KEY": "k", "AGENTAUDIT_SLACK_WEBHOOK_URL": "https://hooks.slack.com/x",
           "AGENTAUDIT_SIEM_AUTHORIZATION": "Bearer t"}
    assert [r.kind for r in load_routes(example, env)] == [
        RouteKind.PAGERDUTY, RouteKind.SLACK, RouteKind.WEBHOOK, RouteKind.ALERTMANAGER]
