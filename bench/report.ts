/** The bench's results, how they print, and the budgets issue 5 sets on them. */

export interface Row {
  scenario: string;
  label: string;
  workers: number | null;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** The server's processor time per request (all its processes), in ms: steadier than req/s on a busy machine. */
  cpuMsPerRequest?: number;
}

export interface Results {
  meta: {
    date: string;
    command: string;
    node: string;
    cpus: number;
    loadavg: number[];
    database: string;
    data: { users: number; follows: number; posts: number; celebrityFollowers: number; fanFollows: number };
    durationSeconds: number;
    connections: number;
  };
  rows: Row[];
  /** SQL statements per request, by scenario. */
  statements: Record<string, number>;
  /** Statements per request of each list at per_page=1 and per_page=100. */
  nPlusOne: { list: string; perPage1: number; perPage100: number }[];
  /** Peak resident set of the server (summed over its processes), by worker count, in MiB. */
  peakRssMiB: Record<string, number>;
}

export interface Budget {
  name: string;
  met: boolean;
  detail: string;
}

const row = (r: Results, scenario: string, workers: number | null = 1) =>
  r.rows.find((x) => x.scenario === scenario && x.workers === workers);

/** The budgets of issue 5, judged on one set of results (a budget with no data is not met). */
export function budgets(r: Results): Budget[] {
  const out: Budget[] = [];
  const ours = row(r, 'user');
  const ceiling = row(r, 'ceiling', null);
  if (ours && ceiling) {
    const ratio = ours.rps / ceiling.rps;
    const cpu = ours.cpuMsPerRequest && ceiling.cpuMsPerRequest ? ceiling.cpuMsPerRequest / ours.cpuMsPerRequest : undefined;
    out.push({
      name: 'GET /api/users/{id} ≥ 60% of the ceiling',
      met: ratio >= 0.6,
      detail:
        `${fmt(ours.rps)} / ${fmt(ceiling.rps)} req/s = ${percentDown(ratio)}` +
        (cpu ? ` (server CPU per request: ${fmt(ceiling.cpuMsPerRequest as number)} / ${fmt(ours.cpuMsPerRequest as number)} ms = ${percentDown(cpu)})` : ''),
    });
  }
  if (r.nPlusOne.length) {
    const bad = r.nPlusOne.filter((l) => l.perPage1 !== l.perPage100);
    out.push({
      name: 'SQL per request constant (per_page=1 vs 100)',
      met: bad.length === 0,
      detail: bad.length ? `differs: ${bad.map((l) => `${l.list} ${l.perPage1}→${l.perPage100}`).join(', ')}` : `${r.nPlusOne.length} lists, all equal`,
    });
  }
  const celebrity = row(r, 'user-celebrity');
  if (ours && celebrity) {
    const f = celebrity.p50 / ours.p50;
    out.push({ name: '100k-follower user ≤ 1.5× ordinary user latency (p50)', met: f <= 1.5, detail: `${celebrity.p50} vs ${ours.p50} ms = ${f.toFixed(2)}×` });
  }
  const first = row(r, 'followers');
  const deep = row(r, 'followers-deep');
  if (first && deep) {
    const f = deep.p50 / first.p50;
    out.push({ name: 'deep followers page ≤ 2× page 1 latency (p50)', met: f <= 2, detail: `${deep.p50} vs ${first.p50} ms = ${f.toFixed(2)}×` });
  }
  const during = row(r, 'user-during-logins');
  if (ours && during) {
    const f = during.p99 / ours.p99;
    out.push({ name: 'GET p99 during 16 logins ≤ 3× without', met: f <= 3, detail: `${during.p99} vs ${ours.p99} ms = ${f.toFixed(2)}×` });
  }
  const workers = [...new Set(r.rows.map((x) => x.workers).filter((w) => w !== null))];
  out.push({ name: 'WEB_CONCURRENCY: 1 and 2 workers measured', met: workers.includes(1) && workers.includes(2), detail: `workers measured: ${workers.join(', ')}` });
  return out;
}

export function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function table(header: string[], lines: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const cell = (s: string, i: number) => (i === 0 ? s.padEnd(widths[i] ?? 0) : s.padStart(widths[i] ?? 0));
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...lines.map(line)].join('\n');
}

/** The results as Markdown tables, as printed and as pasted into docs/performance.md. */
export function render(r: Results): string {
  const m = r.meta;
  const out: string[] = [];
  out.push(
    `\`${m.command}\``,
    `${m.date} · node ${m.node} · ${m.cpus} CPUs, load average ${m.loadavg.map((l) => l.toFixed(2)).join(' ')} at start · ${m.database}`,
    `data: ${m.data.users} users, ${m.data.follows} follows, ${m.data.posts} posts, a user followed by ${m.data.celebrityFollowers}, a user following ${m.data.fanFollows}`,
    `${m.durationSeconds} s measured per scenario after a warm-up, ${m.connections} connections`,
    '',
  );
  out.push(
    table(
      ['scenario', 'workers', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'SQL/req', 'CPU ms/req'],
      r.rows.map((x) => [
        x.label,
        x.workers === null ? '–' : String(x.workers),
        fmt(x.rps),
        String(x.p50),
        String(x.p99),
        String(x.errors),
        r.statements[x.scenario] === undefined ? '' : fmt(r.statements[x.scenario] as number),
        x.cpuMsPerRequest === undefined ? '' : x.cpuMsPerRequest.toFixed(3),
      ]),
    ),
  );
  out.push('', `peak RSS of the server: ${Object.entries(r.peakRssMiB).map(([w, mib]) => `${mib.toFixed(0)} MiB with ${w} worker${w === '1' ? '' : 's'}`).join(', ')}`);
  if (r.nPlusOne.length) {
    out.push('', table(['list (SQL statements per request)', 'per_page=1', 'per_page=100'], r.nPlusOne.map((l) => [l.list, fmt(l.perPage1), fmt(l.perPage100)])));
  }
  out.push('', table(['budget', 'met', 'measured'], budgets(r).map((b) => [b.name, b.met ? 'yes' : 'NO', b.detail])));
  return `${out.join('\n')}\n`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The median of each number over several runs of the same bench. */
export function medianOf(runs: Results[]): Results {
  const [first] = runs;
  if (!first) throw new Error('no results to take the median of');
  const pick = <T>(f: (r: Results) => T | undefined) => runs.map(f).filter((v): v is T => v !== undefined);
  return {
    meta: { ...first.meta, command: `median of ${runs.length} runs: ${first.meta.command}` },
    rows: first.rows.map((x) => {
      const same = pick((r) => r.rows.find((y) => y.scenario === x.scenario && y.workers === x.workers));
      const cpu = same.map((s) => s.cpuMsPerRequest).filter((c): c is number => c !== undefined);
      return {
        ...x,
        rps: median(same.map((s) => s.rps)),
        p50: median(same.map((s) => s.p50)),
        p99: median(same.map((s) => s.p99)),
        errors: median(same.map((s) => s.errors)),
        ...(cpu.length ? { cpuMsPerRequest: median(cpu) } : {}),
      };
    }),
    statements: first.statements,
    nPlusOne: first.nPlusOne,
    peakRssMiB: Object.fromEntries(Object.keys(first.peakRssMiB).map((w) => [w, median(pick((r) => r.peakRssMiB[w]))])),
  };
}

/** A ratio as a percentage with one decimal, rounded down: 59.98% shows as 59.9%, never as a 60% that is not met. */
function percentDown(ratio: number): string {
  return `${(Math.floor(ratio * 1000) / 10).toFixed(1)}%`;
}
