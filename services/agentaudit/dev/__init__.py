"""Local development infrastructure that runs without Docker: a Kafka broker
and a schema registry from the official artifacts on Maven Central."""
