import { describe, expect, it } from 'vitest';
import { checkAnswer } from './support/contract.js';
import { useServer } from './support/server.js';
import { JSON_TYPE } from './support/constants.js';

const server = useServer();

describe('GET /api', () => {
  it('links to every top-level resource without authentication', async () => {
    const res = await server.api.GET('/api');
    expect(res.response.status).toBe(200);
    expect(res.response.headers.get('content-type')).toBe(JSON_TYPE);
    expect(res.response.headers.get('etag')).toMatch(/^"[^"]+"$/);
    expect(res.response.headers.get('cache-control')).toBe('no-cache');
    expect(res.data).toEqual({
      _links: {
        users: '/api/users',
        posts: '/api/posts',
        messages: '/api/messages',
        notifications: '/api/notifications',
        tokens: '/api/tokens',
        docs: '/api/docs',
        openapi: '/api/openapi.json',
      },
    });
  });

  it('answers 304 to If-None-Match with the current ETag', async () => {
    const first = await server.fetch('/api');
    const etag = first.headers.get('etag') ?? '';
    const again = await server.fetch('/api', { headers: { 'If-None-Match': etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    expect(await again.text()).toBe('');
  });

  // Found by the contract fuzzer: the 400 was sent but not declared.
  it('answers an unknown query parameter with 400, as the contract declares', async () => {
    const { answer, violations } = await checkAnswer('getApi', await server.fetch('/api?unknown=1'));
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.text)).toEqual({
      error: 'Bad Request',
      message: expect.stringContaining('unknown'),
      errors: [{ path: '/query/unknown', message: "Unknown query parameter 'unknown'" }],
    });
    expect(violations).toEqual([]);
  });
});

describe('documentation', () => {
  it('serves the contract as JSON and YAML', async () => {
    const json = await server.fetch('/api/openapi.json');
    expect(json.status).toBe(200);
    const doc = (await json.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/api/users/{id}');
    const yaml = await server.fetch('/api/openapi.yaml');
    expect(yaml.status).toBe(200);
    expect(yaml.headers.get('content-type')).toMatch(/^application\/yaml/);
    expect(await yaml.text()).toMatch(/^openapi: 3\.1\.0/);
  });

  it('serves Swagger UI from this server at /api/docs', async () => {
    const res = await server.fetch('/api/docs/');
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('swagger-ui');
    expect(html).not.toMatch(/https?:\/\/(cdn|unpkg)/);
    const bundle = await server.fetch('/api/docs/swagger-ui-bundle.js');
    expect(bundle.status).toBe(200);
  });

  it('redirects / straight to the docs page: one redirect, not two', async () => {
    const res = await server.fetch('/', { redirect: 'manual' });
    expect(res.status).toBe(302);
    // It was /api/docs, which redirects again to the slash Swagger UI's relative URLs need.
    expect(res.headers.get('location')).toBe('/api/docs/');
    const page = await server.fetch(res.headers.get('location') ?? '', { redirect: 'manual' });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  });
});
