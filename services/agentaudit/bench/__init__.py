"""`agentaudit bench`: end-to-end throughput and latency beside a raw relay."""
