"""Finds personal data, secrets and prompt-injection phrases in free text; returns kinds, never values.

Each kind's pattern runs only where it can match: digit-bearing kinds (phone,
SSN, card, IBAN) as one alternation around runs of digits, emails around an
'@', secrets and injection phrases only when one of their trigger words is in
the text. The great majority of texts hold no trigger and cost a few substring
tests. Candidates that a
pattern alone over-matches are confirmed: card numbers by the Luhn check,
IBANs by ISO 13616 mod-97, so an order id or a timestamp is not reported as a
card.

Limits, on purpose: text is scanned as it is stored (parameters are JSON, so
`\\u`-escaped characters are not decoded) and only its first MAX_SCAN_CHARS
characters are scanned, bounding the cost of a 1 MiB payload.
"""

from __future__ import annotations

import re

MAX_SCAN_CHARS = 256 * 1024

PII_KINDS = ("email", "phone", "us_ssn", "card_number", "iban")
SECRET_KINDS = ("aws_access_key", "github_token", "slack_token", "private_key", "api_key", "bearer_token")
INJECTION_KINDS = ("ignore_instructions", "disregard_system_prompt", "role_override", "prompt_leak",
                   "exfiltration_url")
ALL_KINDS = PII_KINDS + SECRET_KINDS + INJECTION_KINDS

_PATTERNS = {
    # Order matters where patterns overlap: finditer takes the first branch that matches at a position.
    "private_key": r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----",
    "aws_access_key": r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    "github_token": r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,})\b",
    "slack_token": r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
    "api_key": r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}",
    "bearer_token": r"(?i:\bbearer\s+)[A-Za-z0-9\-._~+/]{20,}=*",
    "email": r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
    "us_ssn": r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b",
    "iban": r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b",
    "card_number": r"\b[2-6](?:[ -]?\d){12,18}\b",
    # Separators or a leading + are required: a bare run of digits is more often an id than a phone.
    "phone": r"(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}[ .-]?\d{3,4}[ .-]?\d{2,4}"
             r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}|\b\d{3}[.-]\d{3}[.-]\d{4})\b",
    "ignore_instructions": r"(?i:\b(?:ignore|forget|override)\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+|my\s+)?"
                           r"(?:previous|prior|above|earlier|preceding|original)\s+"
                           r"(?:instructions|prompts?|rules|directions|messages|context))",
    "disregard_system_prompt": r"(?i:\b(?:disregard|ignore|bypass|forget)\s+(?:the\s+|your\s+|all\s+)?"
                               r"(?:system\s+prompt|system\s+message|instructions|guidelines|safety\s+rules))",
    "role_override": r"(?i:\byou\s+are\s+now\s+(?:an?\s+)?(?:unrestricted|unfiltered|jailbroken|dan\b|evil|"
                     r"in\s+developer\s+mode|no\s+longer)|\bfrom\s+now\s+on,?\s+you\s+(?:are|will|must)\b|"
                     r"\bpretend\s+(?:to\s+be|you\s+are)\b|<\|im_start\|>\s*system|\[\s*system\s*\]\s*:?|"
                     r"\bdeveloper\s+mode\s+enabled\b)",
    "prompt_leak": r"(?i:\b(?:reveal|print|show|repeat|output)\s+(?:me\s+)?(?:your|the)\s+"
                   r"(?:system\s+prompt|hidden\s+instructions|initial\s+instructions))",
    "exfiltration_url": r"(?i:!\[[^\]\n]{0,100}\]\(\s*https?://[^)\s]{1,200}\?[^)\s]{0,200}=|"
                        r"\b(?:send|post|upload|exfiltrate|forward|leak|append)\b[^\n]{0,60}?\bto\s+https?://)",
}
# When a text holds none of a kind's triggers, that kind's pattern cannot match
# and is not run: most texts hold no trigger at all, so most scans cost a few
# substring tests. Triggers are tested on the lowercased text.
_TRIGGERS: dict[str, tuple[str, ...]] = {
    "private_key": ("private key-----",),
    "aws_access_key": ("akia", "asia"),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "slack_token": ("xox",),
    "api_key": ("sk-",),
    "bearer_token": ("bearer",),
    "ignore_instructions": ("ignore", "forget", "override"),
    "disregard_system_prompt": ("disregard", "ignore", "bypass", "forget"),
    "role_override": ("you are now", "from now on", "pretend", "im_start", "system", "developer mode"),
    "prompt_leak": ("system prompt", "hidden instructions", "initial instructions"),
    "exfiltration_url": ("http",),
}
_TRIGGERED = {kind: re.compile(_PATTERNS[kind]) for kind in _TRIGGERS}
_ANY_TRIGGER = re.compile("|".join(sorted({re.escape(t) for ts in _TRIGGERS.values() for t in ts}, key=len, reverse=True)))
# Digit-bearing kinds are searched only near runs of digits, emails only near an '@'.
_DIGIT_KINDS = ("us_ssn", "iban", "card_number", "phone")
_DIGITS = re.compile("|".join(f"(?P<{kind}>{_PATTERNS[kind]})" for kind in _DIGIT_KINDS))
_DIGIT_RUN = re.compile(r"\d[\d \-.()/]{5,}\d")
_EMAIL = re.compile(_PATTERNS["email"])
_IBAN_LEAD = 34  # an IBAN may begin (country, bank letters) before its digit run and go on after it
_EMAIL_LOCAL = 64  # longest local part (RFC 5321)


def scan(text: str) -> frozenset[str]:
    """The kinds found in text (see ALL_KINDS); never the matched values."""
    text = text[:MAX_SCAN_CHARS]
    found: set[str] = set()
    for run in _DIGIT_RUN.finditer(text):
        for match in _DIGITS.finditer(text, max(0, run.start() - _IBAN_LEAD), run.end() + _IBAN_LEAD):
            kind = match.lastgroup
            assert kind is not None
            if kind == "card_number" and not luhn_valid(match.group()):
                continue
            if kind == "iban" and not iban_valid(match.group()):
                continue
            found.add(kind)
    at = text.find("@")
    while at >= 0 and "email" not in found:
        if _EMAIL.search(text, max(0, at - _EMAIL_LOCAL), at + 256):
            found.add("email")
        at = text.find("@", at + 1)
    lowered = text.lower()
    if _ANY_TRIGGER.search(lowered) is None:
        return frozenset(found)
    present = set(_ANY_TRIGGER.findall(lowered))
    for kind, triggers in _TRIGGERS.items():
        if not present.isdisjoint(triggers) and _TRIGGERED[kind].search(text):
            found.add(kind)
    return frozenset(found)


def luhn_valid(candidate: str) -> bool:
    """True if candidate's digits (13 to 19, separators ignored) pass the Luhn check."""
    digits = [int(c) for c in candidate if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    """True if candidate (spaces ignored) is 15 to 34 characters and passes ISO 13616 mod-97."""
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1
