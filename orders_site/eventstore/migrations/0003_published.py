"""event_store.published, and the relay's publication filtered on it.

The publication used to be created by Debezium (publication.autocreate.mode=filtered), which knows
nothing of row filters and may rewrite a publication's table list; it is now created here, with the
filter, and the connector only uses it (connect/outbox-connector.json: publication.autocreate.mode
disabled). An existing publication (a relay that ran before this migration) gets the filter. Row
filters need PostgreSQL 15.

A publication that filters rows and publishes updates and deletes wants the filter's columns in the
replica identity, and checks that before any trigger runs: without REPLICA IDENTITY FULL an UPDATE
would fail on that check instead of on 0002's append-only trigger, which names the real reason.
FULL costs nothing here: it only adds WAL to updates and deletes, and event_store has none.
"""
from django.db import migrations, models

PUBLICATION = "orders_outbox"  # connect/outbox-connector.json, publication.name
TABLES = "public.event_store WHERE (published), public.relay_heartbeat, public.debezium_signal"
UNFILTERED = "public.event_store, public.relay_heartbeat, public.debezium_signal"


def publication(tables: str) -> str:
    return f"""
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_publication WHERE pubname = '{PUBLICATION}') THEN
    ALTER PUBLICATION {PUBLICATION} SET TABLE {tables};
  ELSE
    CREATE PUBLICATION {PUBLICATION} FOR TABLE {tables};
  END IF;
END $$;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('eventstore', '0002_append_only_trigger'),
        ('replay', '0001_initial'),  # debezium_signal
    ]

    operations = [
        migrations.AddField(
            model_name='storedevent',
            name='published',
            field=models.BooleanField(db_default=True, default=True),
        ),
        migrations.RunSQL("ALTER TABLE event_store REPLICA IDENTITY FULL",
                          reverse_sql="ALTER TABLE event_store REPLICA IDENTITY DEFAULT"),
        migrations.RunSQL(publication(TABLES), reverse_sql=publication(UNFILTERED)),
    ]
