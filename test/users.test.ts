import { it } from 'vitest';
import { useServer } from './support/server.js';
import { createUser, basic } from './support/factories.js';

const server = useServer();

it('probe', async () => {
  const show = async (label: string, p: Promise<Response>) => {
    const r = await p;
    console.log(label, r.status, JSON.stringify(Object.fromEntries(r.headers)), await r.text());
  };
  const post = (body: unknown) => server.fetch('/api/users', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  await show('empty', post({}));
  await show('badname', post({ username: 'a b', email: 'x@example.com', password: 'longenough' }));
  await show('long', post({ username: 'a'.repeat(65), email: 'x@example.com', password: 'longenough' }));
  await show('bademail', post({ username: 'abc', email: 'nope', password: 'longenough' }));
  await show('unknown', post({ username: 'abc', email: 'x@example.com', password: 'longenough', admin: true }));
  await show('short', post({ username: 'abc', email: 'x@example.com', password: 'short' }));
  await show('ok', post({ username: 'probe1', email: 'probe1@example.com', password: 'longenough' }));
  await show('taken', post({ username: 'PROBE1', email: 'probe2@example.com', password: 'longenough' }));
  const u = await createUser(server);
  await show('get', server.fetch(`/api/users/${u.id}`, { headers: u.auth }));
  await show('get404', server.fetch(`/api/users/999999`, { headers: u.auth }));
  await show('getabc', server.fetch(`/api/users/abc`, { headers: u.auth }));
  await show('get401', server.fetch(`/api/users/1`));
  await show('list', server.fetch(`/api/users?per_page=500&page=1`, { headers: u.auth }));
  await show('listbad', server.fetch(`/api/users?page=0&per_page=0`, { headers: u.auth }));
  await show('listunk', server.fetch(`/api/users?foo=1`, { headers: u.auth }));
  await show('put403', server.fetch(`/api/users/99999999`, { method: 'PUT', headers: { ...u.auth, 'Content-Type': 'application/json' }, body: '{}' }));
  await show('putnocur', server.fetch(`/api/users/${u.id}`, { method: 'PUT', headers: { ...u.auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ password: 'newpassword' }) }));
  await show('tok', server.fetch(`/api/tokens`, { method: 'POST', headers: { Authorization: basic(u.username, u.password) } }));
  await show('tok401', server.fetch(`/api/tokens`, { method: 'POST', headers: { Authorization: basic(u.username, 'wrong') } }));
  await show('tok401none', server.fetch(`/api/tokens`, { method: 'POST' }));
  await show('del', server.fetch(`/api/tokens`, { method: 'DELETE', headers: u.auth }));
  await show('afterdel', server.fetch(`/api/users/${u.id}`, { headers: u.auth }));
});
