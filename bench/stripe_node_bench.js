// The same benchmark with the official Stripe SDK for Node (npm package `stripe`), for
// bench/compare: C concurrent callers of stripe.accounts.createLoginLink over a keep-alive agent
// of P sockets, no retries, a fresh idempotency key per call (as stripe-asio sends).
// Prints one JSON object: links/s, latency percentiles, this process's CPU per link.
//
// node stripe_node_bench.js --base-url URL --ca-file PEM [--api-key KEY] [--account ID]
//      [--requests N | --duration S] [--warmup N] [--concurrency C] [--connections P]
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const https = require('https');
const path = require('path');

function usage(message) {
  process.stderr.write(`stripe_node_bench: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    baseUrl: '', caFile: '', apiKey: process.env.STRIPE_API_KEY || 'sk_test_fake_stripe_key',
    account: 'acct_1032D82eZvKYlo2C', requests: 20000, duration: 0, warmup: -1,
    concurrency: 64, connections: 16, stripeVersion: '2026-10-28.endive',
  };
  const numbers = { '--requests': 'requests', '--duration': 'duration', '--warmup': 'warmup',
                    '--concurrency': 'concurrency', '--connections': 'connections' };
  const strings = { '--base-url': 'baseUrl', '--ca-file': 'caFile', '--api-key': 'apiKey',
                    '--account': 'account', '--stripe-version': 'stripeVersion' };
  for (let i = 2; i < argv.length; ++i) {
    const flag = argv[i];
    if (i + 1 >= argv.length) usage(`${flag} needs a value`);
    const value = argv[++i];
    if (flag in numbers) {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0) usage(`bad value for ${flag}: ${value}`);
      o[numbers[flag]] = n;
    } else if (flag in strings) {
      o[strings[flag]] = value;
    } else {
      usage(`unknown option ${flag}`);
    }
  }
  if (!o.baseUrl) usage('--base-url is required');
  if (o.warmup < 0) o.warmup = Math.max(200, o.connections);
  return o;
}

function percentile(sorted, q) {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

async function main() {
  const o = parseArgs(process.argv);
  // Resolve `stripe` from bench/.compare/node (where bench/compare installs it) or the usual places.
  const Stripe = require(require.resolve('stripe', {
    paths: [process.env.STRIPE_NODE_MODULES || path.join(__dirname, '.compare', 'node'), __dirname],
  }));

  const url = new URL(o.baseUrl);
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: o.connections,
    ca: o.caFile ? fs.readFileSync(o.caFile) : undefined,
  });
  const stripe = new Stripe(o.apiKey, {
    host: url.hostname,
    port: Number(url.port || 443),
    protocol: 'https',
    httpAgent: agent,
    maxNetworkRetries: 0,
    apiVersion: o.stripeVersion,
  });

  const errorsByKind = {};
  async function phase(count, seconds, latencies) {
    let next = 0;
    let links = 0;
    let errors = 0;
    const end = seconds > 0 ? process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9)) : 0n;
    async function caller() {
      for (;;) {
        if (seconds > 0 ? process.hrtime.bigint() >= end : next >= count) return;
        ++next;
        const start = process.hrtime.bigint();
        try {
          const link = await stripe.accounts.createLoginLink(o.account, {},
                                                             { idempotencyKey: crypto.randomUUID() });
          if (latencies) latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
          if (link.object === 'login_link' && typeof link.url === 'string' && link.url.startsWith('https://') &&
              link.url.length > 8) {
            ++links;
          } else {
            ++errors;
            errorsByKind.bad_link = (errorsByKind.bad_link || 0) + 1;
          }
        } catch (e) {
          if (latencies) latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
          ++errors;
          const kind = (e && (e.type || e.code || e.name)) || 'error';
          errorsByKind[kind] = (errorsByKind[kind] || 0) + 1;
        }
      }
    }
    await Promise.all(Array.from({ length: o.concurrency }, caller));
    return { links, errors };
  }

  await phase(o.warmup, 0, null);
  for (const k of Object.keys(errorsByKind)) {
    errorsByKind[`warmup_${k}`] = errorsByKind[k];
    delete errorsByKind[k];
  }
  const latencies = [];
  const cpuBefore = process.cpuUsage();
  const start = process.hrtime.bigint();
  const { links, errors } = await phase(o.duration > 0 ? 0 : o.requests, o.duration, latencies);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const round = (x, d) => Math.round(x * 10 ** d) / 10 ** d;
  const result = {
    client: 'stripe-node',
    links,
    errors,
    errors_by_kind: errorsByKind,
    seconds: round(seconds, 6),
    links_per_second: round(links / seconds, 1),
    p50_ms: round(percentile(latencies, 0.5), 3),
    p90_ms: round(percentile(latencies, 0.9), 3),
    p99_ms: round(percentile(latencies, 0.99), 3),
    max_ms: round(percentile(latencies, 1), 3),
    cpu_us_per_link: links ? round((cpu.user + cpu.system) / links, 2) : null,
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    warmup_links: o.warmup,
    requests: o.duration > 0 ? 0 : o.requests,
    concurrency: o.concurrency,
    connections: o.connections,
    base_url: o.baseUrl,
    sdk_version: Stripe.PACKAGE_VERSION,
    node_version: process.version,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exitCode = errors === 0 && links > 0 ? 0 : 1;
}

main().catch((e) => {
  process.stderr.write(`stripe_node_bench: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
