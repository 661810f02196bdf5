// Starts an embedded PostgreSQL and then waits, so a test can kill this process hard
// and check that the next start copes with the orphaned server.
import { startEmbeddedPostgres } from '../../src/db/embedded.js';

const [dataDir, port] = process.argv.slice(2);
const pg = await startEmbeddedPostgres({ dataDir: dataDir as string, port: Number(port), database: 'orphan' });
process.stdout.write(`ready ${pg.url}\n`);
setInterval(() => undefined, 1_000);
