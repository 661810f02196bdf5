import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { createUser, uniqueName } from '../support/factories.js';
import { freePort } from '../support/ports.js';
import { useServer } from '../support/server.js';

const server = useServer();
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARTIFACTS = path.resolve('test-artifacts');
/** Long enough for any answer from this server; past it, the page is waiting on something else. */
const ANSWER_WAIT_MS = 10_000;

interface Browsing {
  page: Page;
  /** Console errors, page errors, dialogs, failed requests and error answers seen so far. */
  problems: string[];
}

/** What each test opened, closed after it in reverse order. */
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** Debian's Chromium with a fresh profile, watching the page for anything going wrong. */
async function browse(): Promise<Browsing> {
  const profile = await mkdtemp(path.join(os.tmpdir(), 'microblog-chromium-'));
  closers.push(() => rm(profile, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
  });
  closers.push(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.type()} ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('requestfailed', (request) =>
    problems.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`),
  );
  page.on('response', (response) => {
    if (response.status() >= 400)
      problems.push(
        `answer ${response.status()}: ${response.request().method()} ${response.url()}`,
      );
  });
  return { page, problems };
}

/** Opens the docs and waits until Swagger UI has rendered the contract's operations. */
async function openDocs(page: Page): Promise<void> {
  await page.goto(`${server.baseUrl}/api/docs`);
  await expect
    .poll(() => page.locator('.swagger-ui .info .title').textContent())
    .toContain('Microblog API');
  await page.locator('#operations-users-getUser').waitFor();
}

/** "Authorize" → the bearer scheme's value → "Authorize" → "Close". */
async function authorize(page: Page, token: string): Promise<void> {
  await page.locator('.scheme-container button.authorize').click();
  const bearer = page
    .locator('.modal-ux .auth-container')
    .filter({ has: page.getByText('bearer', { exact: true }) });
  await bearer.locator('#auth-bearer-value').fill(token);
  await bearer.locator('button.authorize').click();
  await bearer.getByText('Logout', { exact: true }).waitFor();
  await bearer.locator('button.btn-done').click();
  await page.locator('.modal-ux').waitFor({ state: 'detached' });
}

/** "Authorize" → the basic scheme's username and password → "Authorize" → "Close". */
async function authorizeBasic(page: Page, username: string, password: string): Promise<void> {
  await page.locator('.scheme-container button.authorize').click();
  const basic = page
    .locator('.modal-ux .auth-container')
    .filter({ has: page.getByText('basic', { exact: true }) });
  await basic.locator('#auth-basic-username').fill(username);
  await basic.locator('#auth-basic-password').fill(password);
  await basic.locator('button.authorize').click();
  await basic.getByText('Logout', { exact: true }).waitFor();
  await basic.locator('button.btn-done').click();
  await page.locator('.modal-ux').waitFor({ state: 'detached' });
}

/** Expands an operation and turns on "Try it out". */
async function tryItOut(page: Page, operationId: string) {
  const operation = page.locator(`[id$="-${operationId}"].opblock`);
  await operation.locator('.opblock-summary').click();
  await operation.getByRole('button', { name: 'Try it out' }).click();
  return operation;
}

/**
 * "Execute", then the answer as the page shows it, and the response as the browser got it.
 * An answer that does not come in time is a page waiting on something else: a login dialog
 * of the browser's own, which no script can see, never closes in headless Chromium.
 */
async function execute(page: Page, operation: ReturnType<Page['locator']>, urlPath: string) {
  const seen = page.waitForResponse((r) => new URL(r.url()).pathname === urlPath, { timeout: ANSWER_WAIT_MS });
  await operation.getByRole('button', { name: 'Execute' }).click();
  const response = await seen.catch(() => {
    throw new Error(`no answer to ${urlPath} within ${ANSWER_WAIT_MS} ms: the browser holds it (a login dialog?)`);
  });
  const status = operation.locator('.live-responses-table .response .response-col_status');
  await expect.poll(() => status.textContent()).toBe(String(response.status()));
  const body =
    (await operation.locator('.live-responses-table .response .response-col_description pre.microlight').first().textContent()) ?? '';
  return { status: response.status(), headers: await response.allHeaders(), body: JSON.parse(body) as unknown };
}

/** test-artifacts/<file>: an operation from its header to the live response (the request, its curl, the answer). */
async function screenshotOf(page: Page, operation: ReturnType<Page['locator']>, file: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  const top = await operation.boundingBox();
  const response = await operation.locator('.live-responses-table').boundingBox();
  const scrolled = await page.evaluate<number>('window.scrollY');
  const clip = top &&
    response && {
      ...top,
      y: top.y + scrolled,
      height: response.y + response.height - top.y,
    };
  await page.screenshot({ path: path.join(ARTIFACTS, file), fullPage: true, ...(clip ? { clip } : {}) });
}

/** Expands GET /api/users/{id}, "Try it out", enters the id, "Execute"; returns the live response. */
async function tryGetUser(page: Page, id: number) {
  const operation = page.locator('#operations-users-getUser');
  await operation.locator('.opblock-summary').click();
  await operation.getByRole('button', { name: 'Try it out' }).click();
  await operation.locator('tr[data-param-name="id"] input').fill(String(id));
  await operation.getByRole('button', { name: 'Execute' }).click();
  const response = operation.locator('.live-responses-table .response');
  await response.waitFor();
  return {
    status: (await response.locator('.response-col_status').textContent())?.trim(),
    body:
      (await response.locator('.response-col_description pre.microlight').first().textContent()) ??
      '',
    curl: (await operation.locator('.curl-command').textContent()) ?? '',
  };
}

describe('Swagger UI at /api/docs', () => {
  it('authorizes with a token from POST /api/tokens and gets a user with "Try it out"', async () => {
    const susan = await createUser(server, { about_me: 'Seen through Swagger UI' });
    const { page, problems } = await browse();
    await openDocs(page);
    await authorize(page, susan.token);

    const result = await tryGetUser(page, susan.id);

    await screenshotOf(page, page.locator('#operations-users-getUser'), 'swagger-ui.png');
    expect(result.status).toBe('200');
    expect(result.curl).toContain(`Authorization: Bearer ${susan.token}`);
    // The email is in the answer only for the user's own token: the header reached the server.
    expect(JSON.parse(result.body)).toMatchObject({
      id: susan.id,
      username: susan.username,
      email: susan.email,
      about_me: 'Seen through Swagger UI',
      _links: { self: `/api/users/${susan.id}` },
    });
    expect(problems).toEqual([]);
  });

  it('shows the 401 when the token is wrong', async () => {
    const susan = await createUser(server);
    const { page, problems } = await browse();
    await openDocs(page);
    await authorize(page, `${susan.token}x`);

    const result = await tryGetUser(page, susan.id);

    expect(result.status).toBe('401');
    expect(JSON.parse(result.body)).toEqual({
      error: 'Unauthorized',
      message: 'the token is invalid or has expired',
    });
    // The page saw the 401, as it should: a test that expected none would fail on it.
    await expect
      .poll(() => [...problems].sort())
      .toEqual([
        `answer 401: GET ${server.baseUrl}/api/users/${susan.id}`,
        'console error: Failed to load resource: the server responded with a status of 401 (Unauthorized)',
      ]);
  });

  it('shows the 401 of "Try it out" on POST /api/tokens without credentials in the page, with no login dialog', async () => {
    const { page, problems } = await browse();
    await openDocs(page);
    const operation = await tryItOut(page, 'createToken');

    // This hung: the 401's Basic challenge made Chromium wait on a login dialog of its own.
    const result = await execute(page, operation, '/api/tokens');

    await screenshotOf(page, operation, 'swagger-ui-login-401.png');
    expect(result.status).toBe(401);
    expect(result.headers['www-authenticate']).toBe('xBasic realm="Microblog API"');
    expect(result.body).toEqual({ error: 'Unauthorized', message: 'credentials are required' });
    await expect
      .poll(() => [...problems].sort())
      .toEqual([
        `answer 401: POST ${server.baseUrl}/api/tokens`,
        'console error: Failed to load resource: the server responded with a status of 401 (Unauthorized)',
      ]);
  });

  it('registers two users with "Try it out" on POST /api/users, each a request of its own (201, 201)', async () => {
    const { page, problems } = await browse();
    await openDocs(page);
    const operation = await tryItOut(page, 'createUser');
    // The contract's example key was filled in, so every registration sent the same one.
    expect(await operation.locator('tr[data-param-name="Idempotency-Key"] input').inputValue()).toBe('');

    const statuses: number[] = [];
    for (const username of [uniqueName('swagger'), uniqueName('swagger')]) {
      const body = { username, email: `${username}@example.com`, password: 'correct horse battery staple' };
      await operation.locator('textarea.body-param__text').fill(JSON.stringify(body, null, 2));
      const result = await execute(page, operation, '/api/users');
      statuses.push(result.status);
      expect(result.body).toMatchObject({ username, email: body.email, post_count: 0 });
    }

    await screenshotOf(page, operation, 'swagger-ui-register.png');
    expect(statuses).toEqual([201, 201]);
    expect(problems).toEqual([]);
  });

  it('keeps the bearer token across a reload, but never the Basic password, in localStorage', async () => {
    const susan = await createUser(server, { password: 'a password worth keeping secret' });
    const { page, problems } = await browse();
    await openDocs(page);
    await authorizeBasic(page, susan.username, susan.password);
    await authorize(page, susan.token);

    const stored = () => page.evaluate<string>('JSON.stringify(localStorage)');
    expect(await stored()).not.toContain(susan.password);
    expect(await stored()).toContain(susan.token);
    // A new visit: the page restores what persistAuthorization kept.
    await openDocs(page);
    expect(await stored()).not.toContain(susan.password);
    const result = await tryGetUser(page, susan.id);
    expect(result.status).toBe('200');
    expect(result.curl).toContain(`Authorization: Bearer ${susan.token}`);
    expect(problems).toEqual([]);
  });

  it('notices console errors, error answers and failed requests on the page', async () => {
    const { page, problems } = await browse();
    await openDocs(page);
    expect(problems).toEqual([]);

    // eslint-disable-next-line no-console -- the page's console, not ours
    await page.evaluate(() => console.error('something broke'));
    await expect.poll(() => problems).toContain('console error: something broke');
    await page.evaluate((url) => fetch(url), `${server.baseUrl}/api/no-such-thing`);
    await expect
      .poll(() => problems)
      .toContain(`answer 404: GET ${server.baseUrl}/api/no-such-thing`);
    const closed = `http://127.0.0.1:${await freePort()}/`;
    await page.evaluate((url) => fetch(url).catch(() => 'refused'), closed);
    // The docs page's Content-Security-Policy (connect-src 'self') refuses it before any
    // connection is tried, and says so on the console: the watcher must see that.
    await expect.poll(() => problems.some((problem) => problem.startsWith('console error: ') && problem.includes(closed))).toBe(true);
  });

  it('renders every operation of the contract under its Content-Security-Policy, with no violation', async () => {
    const { page, problems } = await browse();
    // Runs in the page: a load the policy blocks becomes a console error, which fails the test.
    await page.addInitScript({
      content: `document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));`,
    });
    await openDocs(page);
    const contract = (await (await fetch(`${server.baseUrl}/api/openapi.json`)).json()) as { paths: Record<string, object> };
    const operations = Object.values(contract.paths).flatMap((item) => Object.keys(item).filter((key) => key !== 'parameters'));
    expect(await page.locator('.opblock').count()).toBe(operations.length);
    await page.locator('.opblock-summary').first().click();
    await page.locator('.opblock-body').first().waitFor();
    expect(problems).toEqual([]);
  });
});
