"""The processor stage: validate each action, stamp the pipeline's ingest time,
and write an AuditRecord or a Rejection. Pure logic lives in validate.py; the
faust app in app.py only moves bytes."""
