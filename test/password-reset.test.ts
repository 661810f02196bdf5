import { EventEmitter, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { components } from '../generated/openapi.js';
import { createTasks } from '../src/jobs.js';
import { createLogger } from '../src/logger.js';
import { expectNoContent, expectPlainError, expectValidationError } from './support/assertions.js';
import { JSON_TYPE, PASSWORD } from './support/constants.js';
import { basic, createUser, uniqueName } from './support/factories.js';
import { sender, type Answer } from './support/http.js';
import { captureLogs } from './support/logs.js';
import { useServer } from './support/server.js';

type Accepted = components['schemas']['PasswordResetAccepted'];

/** A mail as the SMTP server received it. */
interface ReceivedMail {
  to: string;
  subject: string;
  text: string;
}

/**
 * A real SMTP server on a free 127.0.0.1 port, which the app's nodemailer transport talks
 * to. It can stall: hold every recipient (RCPT TO) unanswered until released, as a slow or
 * hung mail server would.
 */
function useSmtpServer() {
  const received: ReceivedMail[] = [];
  const events = new EventEmitter();
  const held: (() => void)[] = [];
  let stalled = false;
  const smtp = new SMTPServer({
    authOptional: true,
    // Its built-in certificate is self-signed; plain SMTP on loopback is what is tested here.
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(_address, _session, callback) {
      if (!stalled) return callback();
      held.push(() => callback());
      events.emit('stalled');
    },
    onData(stream, _session, callback) {
      simpleParser(stream).then(
        (mail) => {
          const to = Array.isArray(mail.to) ? mail.to.flatMap((a) => a.value) : (mail.to?.value ?? []);
          received.push({ to: to.map((a) => a.address ?? '').join(', '), subject: mail.subject ?? '', text: mail.text ?? '' });
          events.emit('mail');
          callback();
        },
        (err: unknown) => callback(err as Error),
      );
    },
  });
  let port = 0;
  beforeAll(async () => {
    smtp.listen(0, '127.0.0.1');
    await once(smtp.server, 'listening');
    port = (smtp.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    for (const release of held.splice(0)) release();
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
  });
  const mailsTo = (address: string) => received.filter((mail) => mail.to === address.toLowerCase());
  return {
    url: () => `smtp://127.0.0.1:${port}`,
    mailsTo,
    /** Resolves with the `n`th mail (from 1) to `address`, once it has arrived. */
    async mail(address: string, n = 1): Promise<ReceivedMail> {
      while (mailsTo(address).length < n) await once(events, 'mail');
      return mailsTo(address)[n - 1] as ReceivedMail;
    },
    stall() {
      stalled = true;
    },
    /** Resolves once `n` recipients are held by the stall. */
    async held(n: number): Promise<void> {
      while (held.length < n) await once(events, 'stalled');
    },
    release() {
      stalled = false;
      for (const release of held.splice(0)) release();
    },
  };
}

const smtp = useSmtpServer();
const tasks = createTasks(createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'));
const PER_EMAIL = 3;
const PER_ADDRESS = 5;
const MIN_LENGTH = 10;
const server = useServer(
  () => ({
    SMTP_URL: smtp.url(),
    MAIL_FROM: 'Microblog Tests <no-reply@microblog.test>',
    PASSWORD_RESET_URL: 'https://app.example/reset?token={token}',
    PASSWORD_MIN_LENGTH: String(MIN_LENGTH),
    RATE_LIMIT_PASSWORD_RESETS_PER_EMAIL: String(PER_EMAIL),
    RATE_LIMIT_PASSWORD_RESETS_PER_ADDRESS: String(PER_ADDRESS),
    // Each test speaks from an address of its own (X-Forwarded-For), so that the limit per
    // address is reached only where a test means to reach it.
    TRUST_PROXY: 'loopback',
  }),
  { tasks },
);

const NEW_PASSWORD = 'a brand new password, long enough';
const INVALID_RESET_TOKEN = 'the reset token is used, expired or unknown; ask for a new one';
const ACCEPTED = { message: 'if the address belongs to a user, a mail with a password reset token is on its way' };

let addresses = 0;
/** A client address no other test uses (TEST-NET-3), sent as X-Forwarded-For. */
const newAddress = () => `203.0.113.${++addresses}`;

/** Each request from an address of its own unless `from` is given. */
const request = sender(server, { Accept: 'application/json' });
const askReset = (email: string, from = newAddress(), on = server) =>
  request<Accepted>('POST', '/api/tokens/reset', { json: { email }, headers: { 'X-Forwarded-For': from } }, on);
const reset = (json: { token: string; password?: string }, on = server) =>
  request('PUT', '/api/tokens/reset', { json, headers: { 'X-Forwarded-For': newAddress() } }, on);
const logIn = (login: string, password: string) => request<{ token: string }>('POST', '/api/tokens', { authorization: basic(login, password) });
const getMe = async (id: number, token: string) => (await request('GET', `/api/users/${id}`, { token })).status;

/** The token in a reset mail, checked against the link beside it. */
function tokenIn(mail: ReceivedMail): string {
  const token = /^([A-Za-z0-9_-]{43})$/m.exec(mail.text)?.[1];
  if (!token) throw new Error(`no token in the mail:\n${mail.text}`);
  expect(mail.text).toContain(`https://app.example/reset?token=${token}`);
  return token;
}

/** The headers two answers should share: all but the request id, the date and the limits' counts. */
function comparable(headers: Headers): Record<string, string> {
  const varying = new Set(['x-request-id', 'date', 'ratelimit', 'retry-after']);
  return Object.fromEntries([...headers].filter(([name]) => !varying.has(name)));
}

/** An answer with its counts (seconds to wait) blanked out, for comparing two refusals. */
const withoutCounts = (res: Answer) => ({
  status: res.status,
  headers: comparable(res.headers),
  text: res.text.replace(/\d+/g, 'N'),
});

describe('password reset by email', () => {
  it('mails a one-time token: the new password logs in, the old one and every old token are refused', async () => {
    const user = await createUser(server, { password: PASSWORD });
    const other = await logIn(user.username, PASSWORD);
    expect(other.status).toBe(200);

    const asked = await askReset(user.email.toUpperCase());
    expect(asked.status).toBe(202);
    expect(asked.headers.get('content-type')).toBe(JSON_TYPE);
    expect(asked.headers.get('cache-control')).toBe('no-store');
    expect(asked.body).toStrictEqual(ACCEPTED);

    const mail = await smtp.mail(user.email);
    expect(mail.subject).toBe('Reset your Microblog password');
    expect(mail.text).toContain(user.username);
    expect(mail.text).toContain('15 minutes');
    const token = tokenIn(mail);

    expectNoContent(await reset({ token, password: NEW_PASSWORD }));

    expect((await logIn(user.username, PASSWORD)).status).toBe(401);
    const fresh = await logIn(user.email, NEW_PASSWORD);
    expect(fresh.status).toBe(200);
    // Every session that was open is over; the one opened since works.
    expect(await getMe(user.id, user.token)).toBe(401);
    expect(await getMe(user.id, other.body.token)).toBe(401);
    expect(await getMe(user.id, fresh.body.token)).toBe(200);

    // Single use: the same token again is refused, and changes nothing.
    expectPlainError(await reset({ token, password: 'yet another long password' }), 400, INVALID_RESET_TOKEN);
    expect((await logIn(user.username, NEW_PASSWORD)).status).toBe(200);
  });

  it('refuses an expired token with the same 400, and the password stays', async () => {
    const user = await createUser(server, { password: PASSWORD });
    expect((await askReset(user.email)).status).toBe(202);
    const token = tokenIn(await smtp.mail(user.email));
    await server.db('password_resets').where({ user_id: user.id }).update({ expires_at: server.db.raw("now() - interval '1 second'") });

    expectPlainError(await reset({ token, password: NEW_PASSWORD }), 400, INVALID_RESET_TOKEN);
    expect((await logIn(user.username, PASSWORD)).status).toBe(200);
    expect(await getMe(user.id, user.token)).toBe(200);
  });

  it('refuses a token never issued with the same 400', async () => {
    expectPlainError(await reset({ token: 'A'.repeat(43), password: NEW_PASSWORD }), 400, INVALID_RESET_TOKEN);
  });

  it('makes an earlier unused token unusable when a new one is asked for: only the latest mail works', async () => {
    const user = await createUser(server, { password: PASSWORD });
    expect((await askReset(user.email)).status).toBe(202);
    const first = tokenIn(await smtp.mail(user.email, 1));
    expect((await askReset(user.email)).status).toBe(202);
    const second = tokenIn(await smtp.mail(user.email, 2));
    expect(second).not.toBe(first);

    expectPlainError(await reset({ token: first, password: NEW_PASSWORD }), 400, INVALID_RESET_TOKEN);
    expectNoContent(await reset({ token: second, password: NEW_PASSWORD }));
  });

  it('answers an unknown address exactly as a known one, and mails nobody', async () => {
    const user = await createUser(server, { password: PASSWORD });
    const unknown = `${uniqueName('nobody')}@example.com`;
    const known = await askReset(user.email);
    const stranger = await askReset(unknown);

    expect(stranger.status).toBe(known.status);
    expect(comparable(stranger.headers)).toStrictEqual(comparable(known.headers));
    expect(stranger.text).toBe(known.text);

    await tasks.idle();
    expect(smtp.mailsTo(user.email)).toHaveLength(1);
    expect(smtp.mailsTo(unknown)).toHaveLength(0);
  });

  it('answers 202 while the SMTP server is stalled: the answer never waits on the mail', async () => {
    const [susan, david] = [await createUser(server), await createUser(server)];
    smtp.stall();
    try {
      expect((await askReset(susan.email)).status).toBe(202);
      // Susan's mail is now stuck in the SMTP conversation ...
      await smtp.held(1);
      // ... and David's request is answered all the same.
      const res = await askReset(david.email);
      expect(res.status).toBe(202);
      expect(res.body).toStrictEqual(ACCEPTED);
      expect(smtp.mailsTo(susan.email)).toHaveLength(0);
    } finally {
      smtp.release();
    }
    tokenIn(await smtp.mail(susan.email));
    tokenIn(await smtp.mail(david.email));
  });

  it(`limits requests per email address (${PER_EMAIL}), with the same 429 for a known and an unknown one`, async () => {
    const user = await createUser(server);
    const unknown = `${uniqueName('nobody')}@example.com`;
    const refusals: Answer[] = [];
    for (const email of [user.email, unknown]) {
      // Each from another address: only the limit per email address is reached.
      for (let i = 0; i < PER_EMAIL; i++) expect((await askReset(email)).status).toBe(202);
      const refused = await askReset(email.toUpperCase());
      expectPlainError(refused, 429, expect.stringMatching(/^too many password reset requests for this email address; try again in \d+ seconds$/));
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(refused.headers.get('ratelimit-policy')).toContain(`"password-resets-email";q=${PER_EMAIL};w=3600`);
      refusals.push(refused);
    }
    expect(withoutCounts(refusals[1] as Answer)).toStrictEqual(withoutCounts(refusals[0] as Answer));
    await tasks.idle();
    expect(smtp.mailsTo(user.email)).toHaveLength(PER_EMAIL);
  });

  it(`limits requests per client address (${PER_ADDRESS}), with the same 429 for a known and an unknown email`, async () => {
    const user = await createUser(server);
    const refusals: Answer[] = [];
    for (const email of [user.email, `${uniqueName('nobody')}@example.com`]) {
      const from = newAddress();
      for (let i = 0; i < PER_ADDRESS; i++) expect((await askReset(`${uniqueName('any')}@example.com`, from)).status).toBe(202);
      const refused = await askReset(email, from);
      expectPlainError(refused, 429, expect.stringMatching(/^too many password reset requests from this address; try again in \d+ seconds$/));
      expect(refused.headers.get('ratelimit-policy')).toContain(`"password-resets-address";q=${PER_ADDRESS};w=3600`);
      refusals.push(refused);
    }
    expect(withoutCounts(refusals[1] as Answer)).toStrictEqual(withoutCounts(refusals[0] as Answer));
    await tasks.idle();
    expect(smtp.mailsTo(user.email)).toHaveLength(0);
  });

  it('holds a new password to the rules of registration, and a refused one leaves the token usable', async () => {
    const user = await createUser(server);
    expect((await askReset(user.email)).status).toBe(202);
    const token = tokenIn(await smtp.mail(user.email));

    // The contract's 8–128, then PASSWORD_MIN_LENGTH, as for a registration.
    expectValidationError(await reset({ token, password: 'short' }), ['/body/password']);
    expectValidationError(await reset({ token, password: 'x'.repeat(129) }), ['/body/password']);
    expectValidationError(await reset({ token }), ['/body/password']);
    expectPlainError(await reset({ token, password: 'x'.repeat(MIN_LENGTH - 1) }), 400, `password: must be at least ${MIN_LENGTH} characters long`);

    expectNoContent(await reset({ token, password: NEW_PASSWORD }));
    expect((await logIn(user.username, NEW_PASSWORD)).status).toBe(200);
  });

  it('refuses a malformed email address with 400, before any limit counts it', async () => {
    expectValidationError(await askReset('not an address'), ['/body/email']);
  });
});

describe('password reset without SMTP_URL', () => {
  // As `npm start` runs on a laptop: the mail, token and all, is written to the log at info.
  const logs = captureLogs();
  const laptopTasks = createTasks(logs.logger);
  const laptop = useServer({}, { logger: logs.logger, tasks: laptopTasks });

  it('writes the mail to the log at info level, and its token works', async () => {
    const user = await createUser(laptop, { password: PASSWORD });
    expect((await askReset(user.email, undefined, laptop)).status).toBe(202);
    await laptopTasks.idle();
    const line = logs.lines().find((l) => (l.mail as ReceivedMail | undefined)?.to === user.email);
    expect(line).toMatchObject({ level: 30, mail: { from: 'Microblog <no-reply@localhost>', subject: 'Reset your Microblog password' } });
    const token = /^([A-Za-z0-9_-]{43})$/m.exec((line?.mail as ReceivedMail).text)?.[1] ?? '';
    expectNoContent(await reset({ token, password: NEW_PASSWORD }, laptop));
  });
});
