import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { projectRoot } from './paths.js';

export type OpenApiDocument = Record<string, unknown>;

export interface Contract {
  /** A fresh copy of the parsed document (the validator annotates the one it gets). */
  document(): OpenApiDocument;
  yaml: string;
  json: string;
}

/** Reads openapi.yaml, the single source of truth for the API. */
export function loadContract(): Contract {
  const yaml = readFileSync(path.join(projectRoot, 'openapi.yaml'), 'utf8');
  const parsed = parse(yaml) as OpenApiDocument;
  const json = JSON.stringify(parsed);
  return { document: () => JSON.parse(json) as OpenApiDocument, yaml, json };
}
