"""The small runtime library every samenwijk service uses the same way.

settings, database pool + migrations, transactional outbox + relay, inbox-guarded
batch consumers with a dead-letter topic, processing log, HTTP wiring, telemetry.
"""
