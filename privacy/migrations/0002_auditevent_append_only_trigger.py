"""On PostgreSQL, a trigger refuses UPDATE and DELETE on the audit log, whatever the client.

Only UPDATE and DELETE: TRUNCATE stays possible for test database flushes and for a DBA's deliberate purge.
"""

from django.db import migrations

CREATE = [
    """
    CREATE OR REPLACE FUNCTION privacy_auditevent_refuse_change() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'privacy_auditevent is append-only: % refused', TG_OP;
    END;
    $$ LANGUAGE plpgsql
    """,
    "DROP TRIGGER IF EXISTS privacy_auditevent_append_only ON privacy_auditevent",
    """
    CREATE TRIGGER privacy_auditevent_append_only
        BEFORE UPDATE OR DELETE ON privacy_auditevent
        FOR EACH ROW EXECUTE FUNCTION privacy_auditevent_refuse_change()
    """,
]

DROP = [
    "DROP TRIGGER IF EXISTS privacy_auditevent_append_only ON privacy_auditevent",
    "DROP FUNCTION IF EXISTS privacy_auditevent_refuse_change()",
]


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in CREATE:
            schema_editor.execute(statement, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("privacy", "0001_initial")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
