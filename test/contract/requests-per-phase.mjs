// Prints how many requests Schemathesis made in each phase, and the statuses they got,
// from the NDJSON event stream of a run (`--report ndjson`).
import { readFileSync } from 'node:fs';
import process from 'node:process';

const print = (line) => process.stdout.write(`${line}\n`);

const phases = new Map();
for (const file of process.argv.slice(2)) {
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.includes('"ScenarioFinished"')) continue;
    const { phase, recorder } = JSON.parse(line).ScenarioFinished;
    const counts = phases.get(phase) ?? { requests: 0, statuses: {} };
    for (const { response } of Object.values(recorder.interactions ?? {})) {
      counts.requests += 1;
      const status = response?.status_code ?? 'no answer';
      counts.statuses[status] = (counts.statuses[status] ?? 0) + 1;
    }
    phases.set(phase, counts);
  }
}
let total = 0;
print('contract: requests per phase');
for (const [phase, { requests, statuses }] of phases) {
  total += requests;
  const byStatus = Object.entries(statuses)
    .map(([status, n]) => `${status}: ${n}`)
    .join(', ');
  print(`  ${phase.padEnd(9)} ${String(requests).padStart(6)}  (${byStatus})`);
}
print(`  ${'total'.padEnd(9)} ${String(total).padStart(6)}`);
