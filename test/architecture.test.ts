import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../src/paths.js';

/** The layout docs/architecture.md draws, as rules on what each room of src/ may import. */

const SRC = path.join(projectRoot, 'src');

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every relative import between files of src/, as paths relative to src/. */
function imports(): Import[] {
  return sourceFiles(SRC).flatMap((file) => {
    const text = readFileSync(file, 'utf8');
    return [...text.matchAll(/^(import|export)(\s+type)?\s[^;]*?from\s+'(\.[^']+)'/gm)].flatMap((m) => {
      const target = path.resolve(path.dirname(file), (m[3] as string).replace(/\.js$/, '.ts'));
      if (!target.startsWith(SRC + path.sep)) return [];
      return [{ from: path.relative(SRC, file), to: path.relative(SRC, target), typeOnly: m[2] !== undefined }];
    });
  });
}

const roomOf = (file: string): string => (file.includes(path.sep) ? (file.split(path.sep)[0] as string) : file);

describe('the layout of src/', () => {
  const all = imports();

  it('finds the imports it checks', () => {
    expect(all.length).toBeGreaterThan(50);
    expect(all.some((i) => i.from === 'app.ts' && i.to === path.join('http', 'authentication.ts'))).toBe(true);
  });

  it('has no import cycles', () => {
    const graph = new Map<string, string[]>();
    for (const i of all) graph.set(i.from, [...(graph.get(i.from) ?? []), i.to]);
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (file: string, trail: string[]) => {
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) {
        if (state.get(next) === 'open') cycles.push([...trail.slice(trail.indexOf(next)), next].join(' → '));
        else if (!state.has(next)) visit(next, [...trail, next]);
      }
      state.set(file, 'done');
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file, [file]);
    expect(cycles).toEqual([]);
  });

  // What a room may not import (type-only imports of rows and cursors from db/ excepted where said).
  const forbidden: Record<string, { rooms: string[]; typesFromDb?: boolean }> = {
    // SQL, and database errors turned into domain errors: nothing of HTTP or the layers above.
    db: { rooms: ['http', 'services', 'resources', 'representations', 'app.ts'] },
    // Authentication, sessions, idempotency: no HTTP.
    services: { rooms: ['http', 'resources', 'representations', 'app.ts'] },
    // Rows in, JSON out: no queries, no HTTP.
    representations: { rooms: ['http', 'services', 'resources', 'db', 'app.ts'], typesFromDb: true },
    // HTTP plumbing never reaches into the routes.
    http: { rooms: ['resources', 'app.ts'] },
    'errors.ts': { rooms: ['http', 'services', 'resources', 'representations', 'db', 'app.ts'] },
  };

  it.each(Object.keys(forbidden))('keeps %s to its own concerns', (room) => {
    const rule = forbidden[room] as { rooms: string[]; typesFromDb?: boolean };
    const breaking = all.filter(
      (i) => roomOf(i.from) === room && rule.rooms.includes(roomOf(i.to)) && !(rule.typesFromDb && i.typeOnly && roomOf(i.to) === 'db'),
    );
    expect(breaking.map((i) => `${i.from} imports ${i.to}`)).toEqual([]);
  });
});
