"""The intake: authentic deliveries in, messages, predictions and drafts stored, once.

    webhook endpoint (app/webhooks/router.py): read body (bounded), verify, parse ─► Delivery
        │
    Intake.submit (types.py: the protocol; thread.py, or process.py for an intake process)
        │  one batch: what piled up, up to `ingest_batch_max` deliveries
        │  batch.prepare_batch: one classifier call for the batch, one draft per new message
        │  batch.write_batch, one transaction, with bulk.py's multi-row inserts:
        │    events  INSERT .. ON CONFLICT DO NOTHING   (journal, by digest)
        │    messages INSERT .. ON CONFLICT DO NOTHING  (platform, account, id)
        │    drafts of the new messages; deletions, echoes of our own posts, channel health
        ▼  COMMIT
    every waiting request gets its result; only then does its 200 leave.

Deduplication is the database's unique constraints, never a check-then-insert, so the same
delivery sent five times at once, to one process or to several, gives one message. If a batch
fails, its deliveries are retried one by one so one bad delivery cannot sink the others; if the
database is down, every waiting request gets `DatabaseUnavailable` and answers 503.
"""

from app.intake.types import DatabaseUnavailable, Delivery, IngestResult, Intake, Proposal

__all__ = ["DatabaseUnavailable", "Delivery", "IngestResult", "Intake", "Proposal"]
