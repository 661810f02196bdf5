import { describe, expect, it } from 'vitest';
import { budgets, medianOf, render, type Results, type Row } from '../bench/report.js';

/** One fake bench run: GET /api/users/{id} at `ours` req/s beside the ceiling at `ceiling`. */
function run(ours: number, ceiling: number): Results {
  const r = (scenario: string, workers: number | null, rps: number): Row => ({ scenario, label: scenario, workers, rps, p50: 1, p99: 2, errors: 0 });
  return {
    meta: {
      date: '2026-12-02T00:00:00.000Z',
      command: 'npm run bench',
      node: 'v20.19.0',
      cpus: 2,
      loadavg: [0, 0, 0],
      database: 'fake',
      data: { users: 10, follows: 10, posts: 10, celebrityFollowers: 5, fanFollows: [5] },
      durationSeconds: 1,
      connections: 1,
    },
    rows: [r('user', 1, ours), r('ceiling', null, ceiling), r('user', 2, ours)],
    statements: {},
    nPlusOne: [],
    peakRssMiB: { '1': 100 },
  };
}

const ceilingBudget = 'GET /api/users/{id} ≥ 60% of the ceiling';

describe('bench report', () => {
  // 53%, 63.5% and 69% of the ceiling, with ceilings that differ from run to run: the
  // median of each number (552 / 1000 req/s = 55.2%) is no run's ratio.
  const runs = [run(530, 1000), run(1270, 2000), run(552, 800)];

  it('judges each run on its own ratio', () => {
    expect(runs.map((r) => budgets(r).find((b) => b.name === ceilingBudget)?.value)).toEqual([0.53, 0.635, 0.69]);
  });

  it('takes the median of the runs’ own ratios for a budget over several runs, and judges that', () => {
    const median = medianOf(runs);
    const line = render(median)
      .split('\n')
      .find((l) => l.startsWith(`| ${ceilingBudget}`));
    expect(line).toMatch(/\| yes \| +median of 3 runs' ratios: 63\.5% \(53\.0%, 63\.5%, 69\.0%\) \|$/);
    const budget = median.budgets?.find((b) => b.name === ceilingBudget);
    expect(budget).toMatchObject({ value: 0.635, limit: 0.6, met: true });
    expect(budget?.detail).toBe("median of 3 runs' ratios: 63.5% (53.0%, 63.5%, 69.0%)");
  });
});
