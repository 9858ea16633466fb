"""`agentaudit rules list|test`: show the detection rules, and run their examples."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from agentaudit.detect.config import DetectConfig
from agentaudit.detect.ruleset import RuleSet

_RULES = click.option("--rules", "rules_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
                      help="Directory of rule files (*.yaml). Default: the rules shipped with agentaudit.")
_CONFIG = click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                       help="Detection config (YAML: tenants, hours, budgets, thresholds, disabled_rules).")


@click.group("rules")
def rules_group() -> None:
    """Detection rules: every accepted record is scored against them (risk_score, rule_hits).

    Each rule is one YAML file with a Sigma-like condition or a built-in
    detector, a severity, a score, and examples that must and must not hit it.
    """


def _load(rules_dir: Path | None, config_file: Path | None) -> RuleSet:
    return RuleSet.load(rules_dir, DetectConfig.load(config_file))


@rules_group.command("list")
@_RULES
@_CONFIG
@click.option("--json", "as_json", is_flag=True, help="One JSON object per rule instead of a table.")
def list_command(rules_dir: Path | None, config_file: Path | None, as_json: bool) -> None:
    """List the enabled rules: id, severity, score, contain, title."""
    rules = _load(rules_dir, config_file).rules
    if as_json:
        for rule in rules:
            click.echo(json.dumps({"id": rule.id, "severity": rule.severity, "score": rule.score,
                                   "contain": rule.contain, "group_window_s": rule.group_window_us // 1_000_000,
                                   "title": rule.title, "evaluated": not rule.documentation_only}))
        return
    width = max(len(rule.id) for rule in rules)
    click.echo(f"{'id':<{width}}  {'severity':<8}  score  contain  title")
    for rule in rules:
        note = "  (found before scoring)" if rule.documentation_only else ""
        click.echo(f"{rule.id:<{width}}  {rule.severity:<8}  {rule.score:>5}  {'yes' if rule.contain else 'no':<7}  "
                   f"{rule.title}{note}")


@rules_group.command("test")
@_RULES
@_CONFIG
def test_command(rules_dir: Path | None, config_file: Path | None) -> None:
    """Run every rule's examples: each `match` example must hit its rule, each `no_match` must not.

    Prints one line per rule, and the detail of every failing example; exits
    with status 1 if any example fails (2 if a rule file is invalid).
    """
    rule_set = _load(rules_dir, config_file)
    results = rule_set.test()
    failed = 0
    for rule in rule_set.rules:
        mine = [result for result in results if result.rule_id == rule.id]
        bad = [result for result in mine if not result.passed]
        failed += len(bad)
        click.echo(f"{'FAIL' if bad else 'ok  '}  {rule.id}  ({len(mine) - len(bad)}/{len(mine)} examples)")
        for result in bad:
            click.echo(f"        {result.kind}[{result.index}]: {result.detail}")
    click.echo(f"{len(results) - failed}/{len(results)} examples passed in {len(rule_set.rules)} rules")
    if failed:
        sys.exit(1)
