"""Make the event store append-only in the database itself, not just by convention.

UPDATE and DELETE raise. History is the product here (state at any past moment, projection rebuilds),
and Debezium's EventRouter would treat an update as an invalid operation anyway.
"""
from django.db import migrations

FORWARD = """
CREATE FUNCTION event_store_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'event_store is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER event_store_append_only BEFORE UPDATE OR DELETE ON event_store
    FOR EACH ROW EXECUTE FUNCTION event_store_append_only();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS event_store_append_only ON event_store;
DROP FUNCTION IF EXISTS event_store_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("eventstore", "0001_initial")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
