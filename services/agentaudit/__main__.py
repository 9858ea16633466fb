"""`python -m agentaudit`: the same as the `agentaudit` command."""

from agentaudit.cli import main

main()
