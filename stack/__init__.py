"""The embedded default stack: one machine, real components (Postgres, Tansu, Kafka Connect + Debezium)."""
