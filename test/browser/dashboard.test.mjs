// The Express Dashboard button of examples/platform_server, clicked in headless Chromium.
//
//   node test/browser/dashboard.test.mjs <platform_server binary>
//
// Starts the server (ephemeral port, embedded fake Stripe, --test-hooks for its Stripe-call
// counter), then as a person would: sign in as alice, click, land on alice's Express page; back,
// click again: a new link that works too (the first one is spent); sign out, and the dashboard
// action is refused with 401 without any Stripe call; bob gets bob's account. No fixed sleeps:
// every wait is for a navigation, a response or a selector, with a timeout.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const binary = process.argv[2];
if (!binary) {
  console.error('usage: node dashboard.test.mjs <platform_server binary>');
  process.exit(2);
}
const STEP_TIMEOUT_MS = 20_000;
setTimeout(() => {
  console.error('FAIL: the browser test did not finish in 4 minutes');
  process.exit(1);
}, 240_000).unref();

let passed = 0;
function check(ok, what, detail = '') {
  if (!ok) throw new Error(`${what}${detail ? `: ${detail}` : ''}`);
  passed++;
  console.log(`ok   ${what}`);
}

// Starts platform_server and resolves with its base URL once it prints `listening on URL`.
function startServer() {
  const env = { ...process.env };
  delete env.STRIPE_API_KEY; // always the embedded fake Stripe server
  delete env.STRIPE_API_BASE;
  const proc = spawn(binary, ['--port', '0', '--test-hooks'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const server = { proc, log: '' };
  proc.stderr.on('data', (d) => { server.log += d; });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`platform_server did not start: ${out}${server.log}`)), 20_000);
    proc.on('error', (e) => { clearTimeout(timer); reject(e); });
    proc.on('exit', (code, signal) => {
      server.exited = true;
      clearTimeout(timer);
      reject(new Error(`platform_server exited (${code ?? signal}): ${out}${server.log}`));
    });
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^listening on (http:\/\/127\.0\.0\.1:\d+)$/m);
      if (m) {
        clearTimeout(timer);
        server.base = m[1];
        resolve(server);
      }
    });
  });
}

async function stripeCalls(base) {
  const res = await fetch(`${base}/debug/stripe-calls`);
  return (await res.json()).calls_started;
}

// Clicks the dashboard button; resolves with the 302 answering the click and the Express page.
async function clickDashboard(page, base) {
  const landed = page.waitForResponse((r) => r.url().includes('/express/') && r.request().isNavigationRequest());
  await page.click('#dashboard');
  const express = await landed;
  const click = express.request().redirectedFrom();
  const redirect = click && (await click.response());
  return { express, click, redirect };
}

async function signIn(page, base, user) {
  await page.goto(`${base}/`);
  await page.fill('#user', user);
  await page.click('#signin');
  await page.waitForSelector('#dashboard');
  check((await page.textContent('#who')) === user, `signed in as ${user}`);
}

const server = await startServer().catch((e) => {
  console.error(`FAIL: ${e.message}`);
  process.exit(1);
});
const base = server.base;
const userDataDir = mkdtempSync(join(tmpdir(), 'platform-browser-'));
let context;
let page;
let exitCode = 1;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--disable-quic'],
    ignoreHTTPSErrors: true, // the Express page comes from the fake server, under its own test CA
    timeout: 60_000,
  });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  page = context.pages()[0] ?? (await context.newPage());
  console.log(`platform_server at ${base}; ${context.browser()?.version() ?? 'chromium'}`);

  // alice signs in: a server-side session behind an HttpOnly, SameSite=Lax cookie.
  await signIn(page, base, 'alice');
  const sid = (await context.cookies(base)).find((c) => c.name === 'sid');
  check(sid && sid.httpOnly && sid.sameSite === 'Lax' && /^[0-9a-f]{32}$/.test(sid.value),
        'session cookie: 128-bit id, HttpOnly, SameSite=Lax', JSON.stringify(sid));
  const csrf = await page.inputValue('form[action="/dashboard"] input[name=csrf]');
  check(await stripeCalls(base) === 0, 'no Stripe call before the click');

  // First click: a 302 to alice's Express page, which the fake Stripe server shows.
  const first = await clickDashboard(page, base);
  check(first.redirect?.status() === 302 && first.click.url() === `${base}/dashboard` &&
          first.click.method() === 'POST' && first.redirect.headers()['cache-control'] === 'no-store',
        'click: POST /dashboard answered 302, Cache-Control: no-store');
  await page.waitForSelector('text=Express Dashboard for acct_1AliceExpress1');
  check(first.express.status() === 200 && /\/express\/acct_1AliceExpress1\/\w+$/.test(page.url()),
        "landed on alice's Express Dashboard", page.url());
  const firstUrl = page.url();

  // Back, click again: a new link (new token) that works too.
  await page.goBack();
  await page.waitForSelector('#dashboard');
  const second = await clickDashboard(page, base);
  await page.waitForSelector('text=Express Dashboard for acct_1AliceExpress1');
  check(second.express.status() === 200 && page.url() !== firstUrl &&
          page.url().startsWith(firstUrl.slice(0, firstUrl.lastIndexOf('/') + 1)),
        'second click: a different link, also working', `${firstUrl} vs ${page.url()}`);
  check(await stripeCalls(base) === 2, 'one Stripe call per click');

  // Login links are single-use: the first one is spent.
  const replay = await page.goto(firstUrl);
  check(replay.status() === 410 && (await page.textContent('h1')).includes('expired'), 'the first link is spent (410)');

  // Sign out, then try the dashboard action anyway (a stale form, as from an old tab): refused.
  await page.goto(`${base}/`);
  await page.click('#signout');
  await page.waitForSelector('#signin');
  check(!(await context.cookies(base)).some((c) => c.name === 'sid'), 'signed out: cookie gone');
  const submitStale = () => page.evaluate((token) => {
    const form = document.createElement('form');
    form.method = 'post';
    form.action = '/dashboard';
    const input = document.createElement('input');
    input.type = 'hidden';
    input.name = 'csrf';
    input.value = token;
    form.appendChild(input);
    document.body.appendChild(form);
    form.submit();
  }, csrf);
  let refused = page.waitForResponse((r) => r.url() === `${base}/dashboard`);
  await submitStale();
  check((await refused).status() === 401, 'dashboard action after sign-out: 401');
  await page.waitForSelector('#signin');
  // The old session id, put back by hand, is dead on the server too.
  await context.addCookies([{ name: 'sid', value: sid.value, url: base, httpOnly: true, sameSite: 'Lax' }]);
  refused = page.waitForResponse((r) => r.url() === `${base}/dashboard`);
  await submitStale();
  check((await refused).status() === 401, 'replayed old session id: 401');
  await page.waitForSelector('#signin');
  check(await stripeCalls(base) === 2, 'no Stripe call for the refused actions');
  await context.clearCookies();

  // bob gets bob's account.
  await signIn(page, base, 'bob');
  const bob = await clickDashboard(page, base);
  await page.waitForSelector('text=Express Dashboard for acct_1BobExpress22');
  check(bob.redirect?.status() === 302 && /\/express\/acct_1BobExpress22\/\w+$/.test(page.url()),
        "bob lands on bob's Express Dashboard", page.url());
  check(await stripeCalls(base) === 3, 'three clicks, three Stripe calls');
  exitCode = 0;
} catch (e) {
  console.error(`FAIL: ${e.stack ?? e}`);
  if (page) {
    const shot = join(tmpdir(), 'platform-browser-failure.png');
    await page.screenshot({ path: shot }).then(() => console.error(`screenshot: ${shot}`), () => {});
    console.error(`page ${page.url()}:\n${await page.content().catch(() => '?')}`);
  }
  console.error(`platform_server stderr:\n${server.log}`);
} finally {
  await context?.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
  if (!server.exited) {
    // A clean exit on SIGTERM (under ASan this also covers leaks at shutdown).
    const exited = new Promise((resolve) => server.proc.on('exit', (code, signal) => resolve(code ?? signal)));
    server.proc.kill('SIGTERM');
    const code = await exited;
    if (code !== 0 && exitCode === 0) {
      console.error(`FAIL: platform_server exited with ${code} on SIGTERM:\n${server.log}`);
      exitCode = 1;
    }
  }
}
console.log(`browser: ${passed} passed, ${exitCode === 0 ? 0 : 1} failed`);
process.exit(exitCode);
