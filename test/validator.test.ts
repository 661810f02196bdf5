import type { AddressInfo } from 'node:net';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { loadContract } from '../src/contract.js';
import { contractValidator } from '../src/http/validator.js';

describe('the contract validator', () => {
  it("matches each request to its route (path parameters coerced), again and again, and answers 404 and 405", async () => {
    const app = express();
    app.enable('case sensitive routing');
    app.use(contractValidator({ contract: loadContract(), validateResponses: false }));
    app.get('/api/users/:id', (req, res) => {
      const { expressRoute, pathParams } = (req as unknown as { openapi: { expressRoute: string; pathParams: Record<string, string> } }).openapi;
      res.json({ expressRoute, pathParams });
    });
    app.use((err: { status?: number }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(err.status ?? 500).end();
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const send = (path: string, method = 'GET') => fetch(base + path, { method, headers: { Authorization: 'Bearer x', Accept: 'application/json' } });
    try {
      for (let id = 41; id < 51; id++) {
        const res = await send(`/api/users/${id}`);
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ expressRoute: '/api/users/:id', pathParams: { id } });
      }
      expect((await send('/api/no-such-thing')).status).toBe(404);
      expect((await send('/API/users/42')).status).toBe(404);
      expect((await send('/api/users/42', 'PATCH')).status).toBe(405);
    } finally {
      server.close();
    }
  });

  // patches/express-openapi-validator+5.6.2.patch keeps each route's compiled matcher; this is
  // what it must not change: one validator, two apps that route differently, each matching as
  // its own setting says, request after request.
  it('matches by each app\'s own case sensitivity, with the matchers it keeps', async () => {
    const validator = contractValidator({ contract: loadContract(), validateResponses: false });
    const serve = async (sensitive: boolean) => {
      const app = express();
      app.set('case sensitive routing', sensitive);
      app.use(validator);
      app.use((req, res) => {
        res.json((req as unknown as { openapi?: { openApiRoute: string } }).openapi?.openApiRoute ?? null);
      });
      app.use((err: { status?: number }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        res.status(err.status ?? 500).end();
      });
      const server = app.listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
    };
    const strict = await serve(true);
    const loose = await serve(false);
    const get = (base: string, path: string) => fetch(base + path, { headers: { Authorization: 'Bearer x' } });
    try {
      for (let round = 0; round < 3; round++) {
        expect((await get(strict.base, '/api/USERS/7')).status).toBe(404);
        expect(await (await get(loose.base, '/api/USERS/7')).json()).toBe('/api/users/{id}');
        expect(await (await get(strict.base, '/api/users/7')).json()).toBe('/api/users/{id}');
      }
    } finally {
      strict.server.close();
      loose.server.close();
    }
  });
});
