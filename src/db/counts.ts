import type { Knex } from 'knex';

/**
 * How many rows a table holds, from the counters its triggers keep in row_counts (see
 * the migration that made them): a sum over a few slots, whatever the size of the table.
 */
export async function rowCount(db: Knex, table: 'users' | 'posts'): Promise<number> {
  const [row] = await db('row_counts').where({ table_name: table }).sum<{ n: number | null }[]>({ n: 'n' });
  return Number(row?.n ?? 0);
}
