import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findProjectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'openapi.yaml'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find openapi.yaml above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}

/** The project's top folder, whether running from src/ (tests) or dist/src/ (built). */
export const projectRoot = findProjectRoot();
