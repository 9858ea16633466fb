"""Rule files: every invalid one is a RuleError naming the file and the key; the CLI runs the examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentaudit.detect import DetectConfig, RuleError, RuleSet
from agentaudit.detect.cli import rules_group
from tests.unit.detect.support import MINIMAL, write_rule


def test_the_packaged_rules_pass_all_their_examples_through_the_cli() -> None:
    result = CliRunner().invoke(rules_group, ["test"])
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
    assert f"in {len(RuleSet.load().rules)} rules" in result.output


def test_every_scoring_rule_has_match_and_no_match_examples() -> None:
    for rule in RuleSet.load().rules:
        kinds = {example.kind for example in rule.examples}
        assert kinds == ({"no_match"} if rule.documentation_only else {"match", "no_match"}), rule.id


def test_a_failing_example_fails_the_cli_and_names_the_rule(tmp_path: Path) -> None:
    write_rule(tmp_path, "test.skew", MINIMAL.replace("no_match: [{clock_skew_ms: 0}]",
                                                      "no_match: [{clock_skew_ms: 9000}]"))
    result = CliRunner().invoke(rules_group, ["test", "--rules", str(tmp_path)])
    assert result.exit_code == 1
    assert "FAIL  test.skew" in result.output and "no_match[0]: unexpected hit: skew 9000" in result.output


def test_list_as_json_shows_severity_score_and_contain(tmp_path: Path) -> None:
    write_rule(tmp_path, "test.skew", MINIMAL)
    result = CliRunner().invoke(rules_group, ["list", "--json", "--rules", str(tmp_path)])
    assert result.exit_code == 0
    assert json.loads(result.output) == {"id": "test.skew", "severity": "low", "score": 20, "contain": False,
                                         "group_window_s": 3600, "title": "Clock skew", "evaluated": True}


def test_integrity_severities_agree_with_the_incidents_the_processor_raises() -> None:
    from agentaudit.process.incidents import SEVERITY

    listed = {rule.id.removeprefix("integrity."): rule.severity for rule in RuleSet.load().rules
              if rule.id.startswith("integrity.") and rule.id != "integrity.clock_skew"}
    assert listed == {kind.value: severity for kind, severity in SEVERITY.items()}


@pytest.mark.parametrize(("old", "new", "key", "message"), [
    ("score: 20", "score: 20\nscroe: 3", "scroe", "unknown key"),
    ("clock_skew_ms|gt: 1000", "clock_skew_ms|bigger: 1000", "clock_skew_ms|bigger", "unknown modifier"),
    ("clock_skew_ms|gt: 1000", "action.tool|re: '(unclosed'", "action.tool|re", "bad regular expression"),
    ("clock_skew_ms|gt: 1000", "action.toool: x", "action.toool", "unknown field"),
    ("clock_skew_ms|gt: 1000", "action.tool|gt: 3", "action.tool|gt", "compares an integer"),
    ('reason: "skew {clock_skew_ms}"', 'reason: "{action.parameters}"', "reason", "personal data"),
    ("match: ahead", "match: ahead and behind", "match", "unknown selection"),
    ("severity: low", "severity: urgent", "severity", "expected one of"),
    ("score: 20", "score: 120", "score", "from 0 to 100"),
    ("no_match: [{clock_skew_ms: 0}]", "no_match: [{clock_skew: 0}]", "no_match[0].clock_skew", "unknown key"),
    ("no_match: [{clock_skew_ms: 0}]", "no_match: []", "no_match", "at least one example"),
])
def test_invalid_rules_name_the_file_and_the_key(tmp_path: Path, old: str, new: str, key: str,
                                                  message: str) -> None:
    assert old in MINIMAL
    path = write_rule(tmp_path, "test.skew", MINIMAL.replace(old, new))
    with pytest.raises(RuleError) as raised:
        RuleSet.load(tmp_path)
    assert str(path) in str(raised.value) and key in str(raised.value) and message in str(raised.value)


def test_detector_parameters_are_checked(tmp_path: Path) -> None:
    body = MINIMAL.split("condition:")[0] + "detector: deny_burst\nparams: {count: 5, whithin: 1m}\n" \
        + "examples:\n  match: [{}]\n  no_match: [{}]\n"
    path = write_rule(tmp_path, "test.burst", body)
    with pytest.raises(RuleError, match="params.whithin: unknown parameter") as raised:
        RuleSet.load(tmp_path)
    assert str(path) in str(raised.value)


def test_a_file_must_be_named_after_its_rule(tmp_path: Path) -> None:
    (tmp_path / "other.name.yaml").write_text("id: test.skew\n" + MINIMAL, encoding="utf-8")
    with pytest.raises(RuleError, match="other.name.yaml: id: the file must be named after its id"):
        RuleSet.load(tmp_path)


def test_disabling_an_unknown_rule_is_an_error_and_a_known_one_drops_it(tmp_path: Path) -> None:
    write_rule(tmp_path, "test.skew", MINIMAL)
    with pytest.raises(RuleError, match="no such rule: test.typo"):
        RuleSet.load(tmp_path, DetectConfig(disabled_rules=frozenset({"test.typo"})))
    assert RuleSet.load(tmp_path, DetectConfig(disabled_rules=frozenset({"test.skew"}))).rules == ()
