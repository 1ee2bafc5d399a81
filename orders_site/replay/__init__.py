"""Re-publishing stored events through the relay (Debezium signals), and the retention of what only
consumers keep (the inbox, sent notifications)."""
