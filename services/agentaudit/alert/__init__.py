"""The alert stage: incident timeline entries from audit.incidents to on-call.

routes (which entries go where), payloads and ocsf (what each kind of
receiver is sent, no I/O), backoff and transport (one HTTP attempt and when to
try again), delivery (a worker thread per route), watermark (which offsets may
be committed), records (AlertDelivery messages to audit.alerts) and service
(the Kafka loop that ties them together). `agentaudit alert` is in cli.
"""
