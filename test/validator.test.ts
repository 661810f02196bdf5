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
});
