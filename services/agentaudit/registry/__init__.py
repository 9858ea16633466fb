"""The agent registry: identities, declared scope, keys and their append-only history."""
