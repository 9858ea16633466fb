"""Registers the demo's simulated agents and hands out the keys they sign with.

Each agent gets a fresh key on every run: registered on the first run, its key
rotated on later ones (a registry change like any other, recorded with who
made and approved it). The private keys live only in this process; the last
agent signs with HMAC-SHA256, the option for very high-volume agents, whose
secret the registry keeps sealed under the KEK.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from agentaudit.crypto import load_kek
from agentaudit.demo.workload import JOB_TOOLS, AgentProfile
from agentaudit.keyring import Keyring
from agentaudit.registry.errors import RegistryRefusal
from agentaudit.registry.keyfiles import new_ed25519_key
from agentaudit.registry.model import Scope
from agentaudit.registry.requests import NewKey, Register, RotateKey
from agentaudit.registry.secrets import new_hmac_key
from agentaudit.registry.store import RegistryWriter
from agentaudit.settings import Settings
from agentaudit.signing import Ed25519Signer, HmacSigner, Signer

ACTOR, APPROVER = "demo-operator", "demo-approver"  # separation of duties: never the same person


def _scope(profile: AgentProfile) -> Scope:
    return Scope(
        action_types=("llm_call", "tool_call", "data_read", "data_write", "external_message",
                      "policy_decision", "approval"),
        tools=JOB_TOOLS.get(profile.job, (f"{profile.job}.*",)),
        resource_patterns=("*",),
        data_classes=("internal",),
    )


def enroll(
    settings: Settings, bootstrap: str, profiles: Iterable[AgentProfile], echo: Callable[[str], None],
    hmac_agents: int = 1,
) -> dict[str, Signer]:
    """A signer per agent, each backed by a key the registry has just recorded."""
    profiles = list(profiles)
    kek = load_kek(settings)
    signers: dict[str, Signer] = {}
    takes_effect_us = 0
    with RegistryWriter(settings, bootstrap, Keyring.load(settings)) as writer:
        for n, profile in enumerate(profiles):
            key: NewKey
            signer: Signer
            if n >= len(profiles) - hmac_agents:
                key, secret = new_hmac_key(kek, profile.agent_id)
                signer = HmacSigner(key.key_id, secret)
            else:
                key, private = new_ed25519_key()
                signer = Ed25519Signer(key.key_id, private)
            try:
                change = writer.submit(Register(
                    agent_id=profile.agent_id, name=profile.agent_id.replace("-", " "), owner=f"team-{profile.job}",
                    environment="demo", tenant_id=profile.tenant_id,
                    principals=tuple(f"user:{p}" for p in profile.principals), scope=_scope(profile),
                    key=key, actor=ACTOR, approver=APPROVER, reason="demo: register the simulated agent",
                ))
            except RegistryRefusal as refusal:
                if refusal.code != "agent_exists":
                    raise
                change = writer.submit(RotateKey(agent_id=profile.agent_id, key=key, actor=ACTOR, approver=APPROVER,
                                        reason="demo run: a fresh key for this run"))
            signers[profile.agent_id] = signer
            takes_effect_us = max(takes_effect_us, change.valid_from_us)
    kinds = ", ".join(sorted({s.algorithm.value for s in signers.values()}))
    echo(f"registry: {len(signers)} agents registered or re-keyed ({kinds}), by {ACTOR}, approved by {APPROVER}")
    # Registry changes take effect shortly after they are made (ACTIVATION_DELAY_US);
    # an action signed with a key before then would be judged by the old registry.
    time.sleep(max(0.0, takes_effect_us / 1e6 - time.time()) + 0.05)
    return signers
