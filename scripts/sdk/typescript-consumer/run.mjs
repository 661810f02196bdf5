// Runs one consumer's flow against a server: node run.mjs <flow module> <base URL>.
// Prints each step passed; exits 1 at the first failure.
import process from 'node:process';
import { pathToFileURL } from 'node:url';

const [modulePath, baseUrl] = process.argv.slice(2);
const { flow } = await import(pathToFileURL(modulePath).href);
let passed = 0;
try {
  await flow(baseUrl, (name) => {
    passed += 1;
    process.stdout.write(`  ok ${passed} ${name}\n`);
  });
  process.stdout.write(`  ${passed} steps passed, 0 failed\n`);
} catch (error) {
  process.stdout.write(`  not ok ${passed + 1}: ${error instanceof Error ? error.stack : error}\n`);
  process.stdout.write(`  ${passed} steps passed, 1 failed\n`);
  process.exitCode = 1;
}
