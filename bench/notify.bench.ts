// Notification latency on real PostgreSQL, in process: each notification is its own transaction
// (sendNotification to one person, as an engine calls it); the latency of one message is the time
// from the commit to the moment the local WeCom / DingTalk / Feishu receiver (signatures checked)
// or the SMTP server (STARTTLS + sign-in) accepted it. Path: outbox → relay → notify.fanout
// subscriber → outbox → relay → four channel flows → drivers. Target: p99 ≤ 2 s at RATE/s.
// Env: BENCH_NOTIFICATIONS (300), BENCH_RATE (20 notifications/s, i.e. 80 messages/s).
import pino from 'pino';
import { loadConfig } from '../src/server/config.ts';
import { createTrellis } from '../src/server/main.ts';
import { systemActor } from '../src/server/platform/context.ts';
import { connectorService } from '../src/server/integration/index.ts';
import { notifyChannels, sendNotification } from '../src/server/notify/index.ts';
import { startMailServer, startRobots } from '../test/helpers/robots.ts';
import { defer, freshPgDatabase, round, runBench } from './lib.ts';

const N = Number(process.env.BENCH_NOTIFICATIONS ?? 300);
const RATE = Number(process.env.BENCH_RATE ?? 20);
const TARGET_P99_MS = 2000;

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]! : NaN;
}

runBench('notify', async () => {
  const robots = await startRobots();
  defer(() => robots.close());
  const mail = await startMailServer();
  defer(() => mail.close());
  const db = await freshPgDatabase();
  const config = loadConfig({ DATABASE_URL: db.url, TRELLIS_LOG_LEVEL: 'silent', TRELLIS_ADMIN_PASSWORD: 'Bench-Admin-Pass-2026!', TRELLIS_DATA_DIR: '/nonexistent', TRELLIS_SECRET_KEY: 'bench-key' });
  const t = await createTrellis(config, { seedDemo: true, announce: () => {}, logger: pino({ level: 'silent' }) });
  defer(() => t.close());
  const ctx = t.ctx;
  const fast = { ratePerSecond: null, backoffBaseMs: 100, backoffCapMs: 1000 };
  await ctx.db.tx(async (tx) => {
    await connectorService.createConnector(ctx, tx, systemActor, { name: 'wecom', kind: 'wecom', config: { baseUrl: robots.url }, secrets: { key: robots.wecom.key }, enabled: true });
    await connectorService.createConnector(ctx, tx, systemActor, { name: 'ding', kind: 'dingtalk', config: { baseUrl: robots.url }, secrets: robots.dingtalk, enabled: true });
    await connectorService.createConnector(ctx, tx, systemActor, { name: 'feishu', kind: 'feishu', config: { baseUrl: robots.url }, secrets: robots.feishu, enabled: true });
    await connectorService.createConnector(ctx, tx, systemActor, {
      name: 'mail',
      kind: 'smtp',
      config: { host: '127.0.0.1', port: mail.port, security: 'starttls', from: 'trellis@hdjj.example.com', rejectUnauthorized: false },
      secrets: { user: mail.user, password: mail.password },
      enabled: true,
    });
    for (const [name, connector, audience] of [['g-wecom', 'wecom', 'group'], ['g-ding', 'ding', 'group'], ['g-feishu', 'feishu', 'group'], ['email', 'mail', 'recipients']] as const) {
      await notifyChannels.createChannel(tx, systemActor, notifyChannels.ChannelCreate.parse({ name, connector, audience, kinds: ['bench.notice'], delivery: fast }));
    }
  });
  const user = (await ctx.db.query<{ id: string }>(`select id from users where username = 'li.teamlead'`)).rows[0]!.id;
  await t.startWorkers();

  const committed = new Map<string, number>();
  const t0 = performance.now();
  const inflight = new Set<Promise<void>>();
  for (let i = 0; i < N; i++) {
    const wait = t0 + (i * 1000) / RATE - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const title = `N${String(i).padStart(5, '0')}`;
    const p = ctx.db
      .tx((tx) => sendNotification(tx, { kind: 'bench.notice', userIds: [user], title, body: 'Line 3 stopped', app: 'andon' }))
      .then(() => {
        committed.set(title, Date.now());
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  }
  await Promise.all(inflight);
  const expected = N * 4;
  const deadline = Date.now() + 120_000;
  // only this bench's messages (the demo plant's own approvals do not match the channels' kind anyway)
  const mine = (t: string) => /^N\d{5}$/.test(t);
  const distinct = () => new Set([...robots.messages.filter((m) => mine(m.title)).map((m) => `${m.service}:${m.title}`), ...mail.mails.filter((m) => mine(m.subject)).map((m) => `mail:${m.subject}`)]).size;
  while (distinct() < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const totalSeconds = (performance.now() - t0) / 1000;

  const lat: number[] = [];
  for (const m of robots.messages) {
    const k = /N\d{5}/.exec(m.title)?.[0];
    if (k && committed.has(k)) lat.push(m.at - committed.get(k)!);
  }
  for (const m of mail.mails) {
    const k = /N\d{5}/.exec(m.subject)?.[0];
    if (k && committed.has(k)) lat.push(m.at - committed.get(k)!);
  }
  lat.sort((a, b) => a - b);
  const received = robots.messages.filter((m) => mine(m.title)).length + mail.mails.filter((m) => mine(m.subject)).length;
  const duplicates = received - distinct();
  const failed = await ctx.db.query<{ error: string; n: number }>(
    `select left(error, 80) as error, count(*)::int as n from integration_delivery_attempts where outcome <> 'ok' group by 1 order by 2 desc limit 5`,
  );
  const p99 = pct(lat, 99);
  return {
    notifications: N,
    rate: RATE,
    messagesExpected: expected,
    messagesReceived: received,
    emails: mail.mails.filter((m) => mine(m.subject)).length,
    duplicates,
    latencyMs: { p50: round(pct(lat, 50)), p95: round(pct(lat, 95)), p99: round(p99), max: round(lat.at(-1) ?? NaN) },
    failedAttempts: failed.rows,
    messagesPerSecond: round(received / totalSeconds, 1),
    targetP99Ms: TARGET_P99_MS,
    targetsMet: distinct() === expected && duplicates === 0 && p99 <= TARGET_P99_MS,
  };
});
