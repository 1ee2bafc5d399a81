from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies: list = []

    operations = [
        migrations.CreateModel(
            name="RelaySignal",
            fields=[
                ("id", models.CharField(max_length=42, primary_key=True, serialize=False)),
                ("type", models.CharField(max_length=32)),
                ("data", models.TextField(blank=True, null=True)),
            ],
            options={"db_table": "debezium_signal"},
        ),
    ]
