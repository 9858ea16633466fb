"""Alert routes: where incidents go, read from a YAML file and validated at start.

    routes:
      - name: oncall-pagerduty          # unique; names the route in logs, metrics and AlertDelivery
        kind: pagerduty                 # webhook | slack | pagerduty | alertmanager
        routing_key_env: PD_ROUTING_KEY # pagerduty only: env var holding the integration key
        match:
          min_severity: high            # info < low < medium < high < critical (default info)
          tenants: [acme, globex]       # or "*" (the default): every tenant
      - name: soc-webhook
        kind: webhook
        url: https://soc.example.com/agentaudit
        headers:                        # header name: env var holding its value
          Authorization: SOC_WEBHOOK_AUTH
      - name: chat
        kind: slack
        url_env: SLACK_WEBHOOK_URL      # the URL is the secret for Slack: keep it out of the file

Secrets never live in the file: routing keys, header values and secret URLs
are named by environment variable, resolved once here, kept out of repr() and
scrubbed from every error text (Route.redact). Anything the file gets wrong
(unknown kind or key, bad URL, unset variable) is a ConfigError naming the
route and the fix, before the alerter consumes anything.
"""

from __future__ import annotations

import enum
import functools
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agentaudit.errors import ConfigError
from agentaudit.severity import SEVERITIES, SEVERITY_RANK
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
ALERTMANAGER_PATH = "/api/v2/alerts"
# Alertmanager resolves an alert nobody re-sends once its endsAt passes; the
# alerter sends each incident entry once, so it sets endsAt this far ahead and
# a 'resolved' entry ends the alert earlier.
DEFAULT_ALERTMANAGER_TTL_S = 7 * 86400.0


class RouteKind(enum.StrEnum):
    WEBHOOK = "webhook"
    SLACK = "slack"
    PAGERDUTY = "pagerduty"
    ALERTMANAGER = "alertmanager"


# Which timeline changes each kind is sent. 'hits' never page (more actions of
# the same incident); 'contained' is carried in the opened alert's details.
# Alertmanager has no acknowledgement (silences are made by people in its UI).
CHANGES: Mapping[RouteKind, frozenset[str]] = {
    RouteKind.WEBHOOK: frozenset({"opened", "acknowledged", "resolved"}),
    RouteKind.SLACK: frozenset({"opened", "acknowledged", "resolved"}),
    RouteKind.PAGERDUTY: frozenset({"opened", "acknowledged", "resolved"}),
    RouteKind.ALERTMANAGER: frozenset({"opened", "resolved"}),
}

_KEYS = frozenset({"name", "kind", "url", "url_env", "headers", "routing_key_env", "match", "timeout_s",
                   "ca_file", "alertmanager_ttl_s"})
_MATCH_KEYS = frozenset({"min_severity", "tenants"})


@dataclass(frozen=True)
class Route:
    """One receiver and the incidents it takes. Secret values are resolved
    from the environment and never appear in repr() or in logs."""

    name: str
    kind: RouteKind
    url: str = field(repr=False)  # may be a secret (Slack); logs name the route instead
    min_severity: str = "info"
    tenants: frozenset[str] | None = None  # None: every tenant
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    routing_key: str = field(default="", repr=False)
    timeout_s: float = 10.0
    ca_file: str | None = None
    alertmanager_ttl_s: float = DEFAULT_ALERTMANAGER_TTL_S
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def matches(self, incident: Mapping[str, Any]) -> bool:
        """Whether this route takes this timeline entry (its change, severity and tenant)."""
        if str(incident["change"]) not in CHANGES[self.kind]:
            return False
        if SEVERITY_RANK[str(incident["severity"])] < SEVERITY_RANK[self.min_severity]:
            return False
        return self.tenants is None or str(incident["tenant_id"]) in self.tenants

    def redact(self, text: str) -> str:
        """text with every secret value of this route replaced by ***."""
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    @functools.cached_property
    def ssl_context(self) -> ssl.SSLContext:
        """Certificate and host name verification always on; ca_file adds a private CA.
        Made once per route: loading the trust store for every attempt is slow."""
        return ssl.create_default_context(cafile=self.ca_file)


def routes_for(routes: tuple[Route, ...], incident: Mapping[str, Any]) -> tuple[Route, ...]:
    """Every route that takes this entry (an incident goes to all that match)."""
    return tuple(r for r in routes if r.matches(incident))


def load_routes(path: Path, env: Mapping[str, str]) -> tuple[Route, ...]:
    """Read and validate a routes file; ConfigError naming the route and the fix."""
    try:
        import yaml  # a dev dependency elsewhere; only the alerter needs it at run time
    except ImportError:
        raise ConfigError("the alerter reads its routes with PyYAML: pip install pyyaml") from None
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read routes file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"routes file {path} is not valid YAML: {exc}") from None
    return parse_routes(doc, env, where=str(path))


def parse_routes(doc: Any, env: Mapping[str, str], where: str = "routes") -> tuple[Route, ...]:
    if not isinstance(doc, dict) or not isinstance(doc.get("routes"), list) or not doc["routes"]:
        raise ConfigError(f"{where}: expected a top-level 'routes:' list with at least one route")
    if set(doc) != {"routes"}:
        raise ConfigError(f"{where}: unknown top-level keys {sorted(set(doc) - {'routes'})}; only 'routes' is read")
    routes = tuple(_route(i, raw, env, where) for i, raw in enumerate(doc["routes"]))
    names = [r.name for r in routes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{where}: route names must be unique; repeated: {', '.join(duplicates)}")
    return routes


def _route(index: int, raw: Any, env: Mapping[str, str], where: str) -> Route:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: route #{index + 1} must be a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: route #{index + 1} needs a name")
    here = f"{where}: route {name!r}"
    unknown = set(raw) - _KEYS
    if unknown:
        hint = ("; secrets go in environment variables: name them with routing_key_env, url_env or headers"
                if unknown & {"routing_key", "token", "secret", "password"} else "")
        raise ConfigError(f"{here}: unknown keys {sorted(unknown)} (known: {', '.join(sorted(_KEYS))}){hint}")
    try:
        kind = RouteKind(str(raw.get("kind")))
    except ValueError:
        raise ConfigError(f"{here}: unknown kind {raw.get('kind')!r}; one of {', '.join(RouteKind)}") from None
    secrets: list[str] = []

    def from_env(key: str, var: Any) -> str:
        if not isinstance(var, str) or not var:
            raise ConfigError(f"{here}: {key} must name an environment variable")
        value = env.get(var, "")
        if not value:
            raise ConfigError(f"{here}: environment variable {var} ({key}) is not set")
        secrets.append(value)
        return value

    routing_key = ""
    if kind is RouteKind.PAGERDUTY:
        routing_key = from_env("routing_key_env", raw.get("routing_key_env"))
    elif "routing_key_env" in raw:
        raise ConfigError(f"{here}: routing_key_env is for kind pagerduty only")
    url = _url(here, kind, raw, from_env)
    headers_raw = raw.get("headers") or {}
    if not isinstance(headers_raw, dict):
        raise ConfigError(f"{here}: headers must map header names to environment variable names")
    headers = {str(h): from_env(f"headers.{h}", var) for h, var in headers_raw.items()}
    min_severity, tenants = _match(here, raw.get("match") or {})
    timeout_s = _positive(here, "timeout_s", raw.get("timeout_s", 10.0))
    ttl_s = _positive(here, "alertmanager_ttl_s", raw.get("alertmanager_ttl_s", DEFAULT_ALERTMANAGER_TTL_S))
    ca_file = raw.get("ca_file")
    if ca_file is not None and not Path(str(ca_file)).is_file():
        raise ConfigError(f"{here}: ca_file {ca_file} is not a file")
    return Route(
        name=name, kind=kind, url=url, min_severity=min_severity, tenants=tenants, headers=headers,
        routing_key=routing_key, timeout_s=timeout_s, ca_file=None if ca_file is None else str(ca_file),
        alertmanager_ttl_s=ttl_s, secrets=tuple(secrets),
    )


def _url(here: str, kind: RouteKind, raw: Mapping[str, Any], from_env: Any) -> str:
    if "url" in raw and "url_env" in raw:
        raise ConfigError(f"{here}: give url or url_env, not both")
    if "url_env" in raw:
        url = str(from_env("url_env", raw["url_env"]))
        shown = f"the URL in {raw['url_env']}"  # never the value: it may be the secret
    elif "url" in raw:
        url = raw["url"]
        shown = f"url {url!r}"
    elif kind is RouteKind.PAGERDUTY:
        return PAGERDUTY_URL
    else:
        raise ConfigError(f"{here}: kind {kind} needs url (or url_env when the URL is a secret)")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{here}: {shown} is not an http(s) URL with a host")
    if parts.username or parts.password:
        raise ConfigError(f"{here}: {shown} carries credentials; send them in a header named under headers "
                          "(e.g. Authorization: ENV_VAR)")
    if kind is RouteKind.ALERTMANAGER and not parts.path.rstrip("/").endswith(ALERTMANAGER_PATH):
        url = url.rstrip("/") + ALERTMANAGER_PATH  # the base URL of Alertmanager is the usual thing to give
    return str(url)


def _match(here: str, match: Any) -> tuple[str, frozenset[str] | None]:
    if not isinstance(match, dict) or set(match) - _MATCH_KEYS:
        raise ConfigError(f"{here}: match takes min_severity and tenants only")
    severity = match.get("min_severity", "info")
    if severity not in SEVERITIES:
        raise ConfigError(f"{here}: min_severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    tenants = match.get("tenants", "*")
    if tenants == "*":
        return severity, None
    if not isinstance(tenants, list) or not tenants or not all(isinstance(t, str) and t for t in tenants):
        raise ConfigError(f"{here}: tenants must be \"*\" or a non-empty list of tenant ids")
    return severity, frozenset(tenants)


def _positive(here: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{here}: {key} must be a positive number of seconds")
    return float(value)
