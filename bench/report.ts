/** The bench's results, how they print, and the budgets issues 5 and 17 set on them. */

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
    /** fanFollows: one fan per number (a single number in results from before). */
    data: { users: number; follows: number; posts: number; celebrityFollowers: number; fanFollows: number[] | number; messages?: number };
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
  /** The budgets as judged over several runs (medianOf); when absent, budgets() of these results. */
  budgets?: Budget[];
}

/**
 * A budget judged on results: a measured value (a ratio, mostly) against a limit. Over
 * several runs (--median) the value is the median of the runs' own values, judged as one.
 */
export interface Budget {
  name: string;
  value: number;
  limit: number;
  /** Met when value ≥ limit; otherwise when value ≤ limit. */
  higherIsBetter: boolean;
  /** How the value prints: a percentage, a factor, or a plain count. */
  unit: '%' | '×' | '';
  met: boolean;
  detail: string;
}

const row = (r: Results, scenario: string, workers: number | null = 1) =>
  r.rows.find((x) => x.scenario === scenario && x.workers === workers);

function judged(b: Omit<Budget, 'met'>): Budget {
  return { ...b, met: b.higherIsBetter ? b.value >= b.limit : b.value <= b.limit };
}

/** A budget's value as it prints: 63.5%, 1.27×, 2. */
export function formatValue(value: number, unit: Budget['unit']): string {
  return unit === '%' ? percentDown(value) : unit === '×' ? `${value.toFixed(2)}×` : String(value);
}

/** The feed scenarios of a run (feed-5, feed-100, …; `feed` in results from before), fewest follows first. */
export function feedScenarios(r: Results): string[] {
  const keys = [...new Set(r.rows.map((x) => x.scenario).filter((k) => /^feed(-\d+)?$/.test(k)))];
  return keys.sort((a, b) => Number(a.slice(5) || 0) - Number(b.slice(5) || 0));
}

/** The budgets of issues 5 and 17, judged on one set of results (a budget with no data is left out). */
export function budgets(r: Results): Budget[] {
  const out: Budget[] = [];
  const ours = row(r, 'user');
  const ceiling = row(r, 'ceiling', null);
  if (ours && ceiling) {
    const ratio = ours.rps / ceiling.rps;
    const cpu = ours.cpuMsPerRequest && ceiling.cpuMsPerRequest ? ceiling.cpuMsPerRequest / ours.cpuMsPerRequest : undefined;
    out.push(
      judged({
        name: 'GET /api/users/{id} ≥ 60% of the ceiling',
        value: ratio,
        limit: 0.6,
        higherIsBetter: true,
        unit: '%',
        detail:
          `${fmt(ours.rps)} / ${fmt(ceiling.rps)} req/s = ${percentDown(ratio)}` +
          (cpu ? ` (server CPU per request: ${fmt(ceiling.cpuMsPerRequest as number)} / ${fmt(ours.cpuMsPerRequest as number)} ms = ${percentDown(cpu)})` : ''),
      }),
    );
  }
  if (r.nPlusOne.length) {
    const bad = r.nPlusOne.filter((l) => l.perPage1 !== l.perPage100);
    out.push(
      judged({
        name: 'SQL per request constant (per_page=1 vs 100)',
        value: bad.length,
        limit: 0,
        higherIsBetter: false,
        unit: '',
        detail: bad.length ? `differs: ${bad.map((l) => `${l.list} ${l.perPage1}→${l.perPage100}`).join(', ')}` : `${r.nPlusOne.length} lists, all equal`,
      }),
    );
  }
  /** `a`'s p50 (or p99) at most `limit` × `b`'s. */
  const latency = (name: string, a: Row | undefined, b: Row | undefined, limit: number, at: 'p50' | 'p99' = 'p50') => {
    if (!a || !b) return;
    const f = a[at] / b[at];
    out.push(judged({ name, value: f, limit, higherIsBetter: false, unit: '×', detail: `${a[at]} vs ${b[at]} ms = ${f.toFixed(2)}×` }));
  };
  latency('100k-follower user ≤ 1.5× ordinary user latency (p50)', row(r, 'user-celebrity'), ours, 1.5);
  latency('deep followers page ≤ 2× page 1 latency (p50)', row(r, 'followers-deep'), row(r, 'followers'), 2);
  latency('GET p99 during 16 logins ≤ 3× without', row(r, 'user-during-logins'), ours, 3, 'p99');
  const posts = row(r, 'posts');
  for (const feed of feedScenarios(r)) {
    const follows = feed.slice(5);
    latency(`feed${follows ? ` (follows ${Number(follows).toLocaleString('en')})` : ''} ≤ 2× GET /api/posts latency (p50)`, row(r, feed), posts, 2);
  }
  latency('POST /api/posts by the celebrity ≤ 2× by an ordinary user (p50)', row(r, 'post-create-celebrity'), row(r, 'post-create'), 2);
  const workers = [...new Set(r.rows.map((x) => x.workers).filter((w) => w !== null))];
  const both = workers.includes(1) && workers.includes(2);
  out.push(judged({ name: 'WEB_CONCURRENCY: 1 and 2 workers measured', value: both ? 1 : 0, limit: 1, higherIsBetter: true, unit: '', detail: `workers measured: ${workers.join(', ')}` }));
  return out;
}

/**
 * The budgets over several runs: each budget's value is the median of the runs' own values
 * (a ratio of medians taken apart would mix runs), judged against its limit.
 */
export function medianBudgets(runs: Results[]): Budget[] {
  const perRun = runs.map(budgets);
  const names = [...new Set(perRun.flat().map((b) => b.name))];
  return names.map((name) => {
    const same = perRun.map((bs) => bs.find((b) => b.name === name)).filter((b): b is Budget => b !== undefined);
    const first = same[0] as Budget;
    const value = median(same.map((b) => b.value));
    const of = same.length === runs.length ? `${runs.length} runs'` : `${same.length} of ${runs.length} runs'`;
    const values = `${formatValue(value, first.unit)} (${same.map((b) => formatValue(b.value, b.unit)).join(', ')})`;
    // A count says little alone: the detail of a run that measured the median too.
    const typical = same.find((b) => b.value === value);
    return judged({
      ...first,
      value,
      detail: first.unit === '' ? `median of ${of} values: ${values}${typical ? `; ${typical.detail}` : ''}` : `median of ${of} ratios: ${values}`,
    });
  });
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
    `data: ${m.data.users} users, ${m.data.follows} follows, ${m.data.posts} posts, a user followed by ${m.data.celebrityFollowers}, users following ${([] as number[]).concat(m.data.fanFollows).join(', ')}`,
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
  out.push('', table(['budget', 'met', 'measured'], (r.budgets ?? budgets(r)).map((b) => [b.name, b.met ? 'yes' : 'NO', b.detail])));
  return `${out.join('\n')}\n`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * The median of each number over several runs of the same bench, and each budget judged on
 * the median of the runs' own values (not recomputed from the medians above).
 */
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
    budgets: medianBudgets(runs),
  };
}

/** A ratio as a percentage with one decimal, rounded down: 59.98% shows as 59.9%, never as a 60% that is not met. */
function percentDown(ratio: number): string {
  return `${(Math.floor(ratio * 1000) / 10).toFixed(1)}%`;
}
