"""The embedded default stack: one machine, real components (PostgreSQL, Apache Kafka, Kafka Connect + Debezium)."""
