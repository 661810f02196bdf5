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
  /** Formats as the contract means them, where Ajv's own differ (for every validator of it). */
  formats: { email: (value: string) => boolean };
}

/** Reads openapi.yaml, the single source of truth for the API. */
export function loadContract(): Contract {
  const yaml = readFileSync(path.join(projectRoot, 'openapi.yaml'), 'utf8');
  const parsed = parse(yaml) as OpenApiDocument;
  const json = JSON.stringify(parsed);
  return { document: () => JSON.parse(json) as OpenApiDocument, yaml, json, formats: { email: emailFormat(parsed) } };
}

/**
 * `email` as the contract's Email says: what its pattern allows, with at most 64 characters
 * before the `@` (RFC 5321's limit, which `format: email` carries in other tools).
 */
function emailFormat(document: OpenApiDocument): (value: string) => boolean {
  const { pattern } = (document as { components: { schemas: { Email: { pattern: string } } } }).components.schemas.Email;
  const address = new RegExp(pattern, 'u');
  return (value) => address.test(value) && value.indexOf('@') <= 64;
}
