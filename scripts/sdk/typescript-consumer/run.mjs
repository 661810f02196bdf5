// Runs one consumer's flow against a server: node run.mjs <flow module> <base URL> <server log>.
// Prints each step passed; exits 1 at the first failure.
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';

const [modulePath, baseUrl, serverLog] = process.argv.slice(2);
const { flow } = await import(pathToFileURL(modulePath).href);

/**
 * The server runs without SMTP_URL, so it writes each mail to its log (JSON lines): the
 * inbox is that log. Polled, as the mail is sent after the answer, by another process.
 */
const inbox = {
  async resetToken(email) {
    for (let tries = 0; tries < 200; tries++) {
      const mails = readFileSync(serverLog, 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line).mail)
        .filter((mail) => mail?.to === email);
      const token = mails.length > 0 && /^([A-Za-z0-9_-]{43})$/m.exec(mails[mails.length - 1].text)?.[1];
      if (token) return token;
      await sleep(50);
    }
    throw new Error(`no reset mail to ${email} in ${serverLog}`);
  },
};

let passed = 0;
try {
  await flow(baseUrl, (name) => {
    passed += 1;
    process.stdout.write(`  ok ${passed} ${name}\n`);
  }, inbox);
  process.stdout.write(`  ${passed} steps passed, 0 failed\n`);
} catch (error) {
  process.stdout.write(`  not ok ${passed + 1}: ${error instanceof Error ? error.stack : error}\n`);
  process.stdout.write(`  ${passed} steps passed, 1 failed\n`);
  process.exitCode = 1;
}
