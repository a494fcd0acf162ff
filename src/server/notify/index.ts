// Notification layer: templates (zh-CN + English), per-user preferences, channels (WeCom, DingTalk,
// Feishu robots and email as integration connectors), and `sendNotification` for the other engines:
// in the caller's transaction it writes the in-app rows and one outbox event per external send, so
// every external message is a delivery (retried, idempotency-keyed, on the health dashboard).
// Other folders import only this file.
import { z } from 'zod';
import type { Engine } from '../engine.ts';
import { registerScopes } from '../platform/auth/index.ts';
import { notifyMigrations } from './migrations.ts';
import { notifyRoutes } from './routes.ts';
import { configureNotify, fanOut, type RequestedData } from './send.ts';
import { NOTIFY_REQUESTED } from './channels.ts';
import { PermanentSubscriberError, subscribe } from '../integration/index.ts';

export { sendNotification, sendTestMessage, renderMessage, configureNotify, languageOf, type NotificationInput, type RequestedData, type Message } from './send.ts';
export { render, plainText, templateProblems, BUILTIN as BUILTIN_TEMPLATES, type Language } from './templates.ts';
export { NOTIFY_EVENT, NOTIFY_REQUESTED, channelSource } from './channels.ts';
export * as notifyChannels from './channels.ts';
export * as notifyPreferences from './preferences.ts';
export * as notifyTemplates from './templates.ts';

registerScopes('notify:read', 'notify:write');

// The fan-out of every requested notification: an in-process subscriber, so it runs after the
// caller's commit, is retried like a delivery, and its outbox events commit exactly once.
subscribe(
  'notify.fanout',
  NOTIFY_REQUESTED,
  async (tx, event) => {
    const d = event.data as Partial<RequestedData> | null;
    if (!d || typeof d.kind !== 'string' || !Array.isArray(d.userIds) || typeof d.title !== 'string') {
      throw new PermanentSubscriberError('The notification request has no kind, userIds or title.');
    }
    await fanOut(tx, { data: {}, template: d.kind, ...d } as RequestedData, new Date(event.time));
  },
  { concurrency: 4 },
);

const Env = z.object({
  TRELLIS_PUBLIC_URL: z
    .string()
    .regex(/^(https?:\/\/[^\s]+)?$/, 'the address people open Trellis at, e.g. https://trellis.plant.example')
    .default(''),
});

export const notifyEngine: Engine = {
  name: 'notify',
  migrations: notifyMigrations,
  routes: notifyRoutes,
  bootstrap: async (ctx) => {
    const r = Env.safeParse(process.env);
    if (!r.success) throw new Error(`Invalid notification settings: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    configureNotify({ publicUrl: r.data.TRELLIS_PUBLIC_URL, timezone: ctx.config.timezone });
  },
};
