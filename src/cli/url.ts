import { loadConfig } from '../config.js';
import { DEFAULT_EMBEDDED_DATA_DIR } from '../db/open.js';
import { runningEmbeddedUrl } from '../db/embedded.js';
import { fail } from './command.js';

/** npm run db:url: the URL of the database the server uses, for psql and other tools. */
try {
  const config = loadConfig();
  const url = config.databaseUrl ?? runningEmbeddedUrl(config.embeddedPg.dataDir ?? DEFAULT_EMBEDDED_DATA_DIR, 'microblog');
  if (!url) {
    process.stderr.write('db:url: the embedded database is not running (it picks a free port when it starts): run npm start first\n');
    process.exit(1);
  }
  process.stdout.write(`${url}\n`);
} catch (err) {
  fail('db:url', err);
}
