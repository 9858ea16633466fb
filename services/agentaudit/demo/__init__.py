"""`agentaudit demo`: the local pipeline with a workload of simulated agents."""
