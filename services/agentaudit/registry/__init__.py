"""The agent registry: identities, declared scope, keys and their append-only history.

    model     what an agent is (AgentDefinition, AgentKey, Scope) and RegistryView.as_of
    requests  change requests and the rules they must pass (pure)
    log       verified entries in order: hash chain, signatures, folding into a view (pure)
    canonical the bytes an entry's hash and signature cover (pure)
    avro      RegistryChange <-> its Avro datum (pure)
    secrets   HMAC secrets sealed under the KEK, bound to agent and key
    store     agent.registry on Kafka: RegistryWriter, RegistryFollower, load_registry
    rows      registry_row for the ClickHouse agent_registry table
    cli       `agentaudit agents …`

Modules are imported where used: importing this package loads nothing else.
"""
