import type { Knex } from 'knex';

/**
 * Exact row counts of users and posts without counting rows: statement triggers add each
 * statement's inserted or deleted rows to row_counts (a bulk insert costs one update, not
 * one per row) and TRUNCATE resets them. The count of a table is spread over 16 slots
 * chosen by backend, summed when read: one counter row would make every POST /api/posts
 * wait for the previous one's commit, as each holds the row's lock until it commits.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE row_counts (
      table_name text NOT NULL,
      slot smallint NOT NULL,
      n bigint NOT NULL,
      PRIMARY KEY (table_name, slot)
    );

    CREATE FUNCTION row_counts_add() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      delta bigint;
    BEGIN
      IF TG_OP = 'INSERT' THEN
        SELECT count(*) INTO delta FROM new_rows;
      ELSE
        SELECT -count(*) INTO delta FROM old_rows;
      END IF;
      IF delta <> 0 THEN
        INSERT INTO row_counts AS c (table_name, slot, n) VALUES (TG_TABLE_NAME, pg_backend_pid() % 16, delta)
        ON CONFLICT (table_name, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
      END IF;
      RETURN NULL;
    END $$;

    CREATE FUNCTION row_counts_reset() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM row_counts WHERE table_name = TG_TABLE_NAME;
      RETURN NULL;
    END $$;
  `);
  for (const table of ['users', 'posts']) {
    // Made before counting, in the same transaction: their locks keep writers out until the count is in.
    await knex.raw(`
      CREATE TRIGGER ${table}_count_inserts AFTER INSERT ON ${table}
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION row_counts_add();
      CREATE TRIGGER ${table}_count_deletes AFTER DELETE ON ${table}
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION row_counts_add();
      CREATE TRIGGER ${table}_count_truncate AFTER TRUNCATE ON ${table}
        FOR EACH STATEMENT EXECUTE FUNCTION row_counts_reset();
      INSERT INTO row_counts (table_name, slot, n) SELECT '${table}', 0, count(*) FROM ${table};
    `);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['users', 'posts']) {
    await knex.raw(`
      DROP TRIGGER ${table}_count_inserts ON ${table};
      DROP TRIGGER ${table}_count_deletes ON ${table};
      DROP TRIGGER ${table}_count_truncate ON ${table};
    `);
  }
  await knex.raw('DROP TABLE row_counts; DROP FUNCTION row_counts_add(); DROP FUNCTION row_counts_reset();');
}
