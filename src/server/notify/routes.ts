// HTTP face of the notification layer: `/api/v1/notify/...`.
//  - templates and channels: administrators and integration engineers (API keys: notify:write);
//  - my preferences: every signed-in person, for themselves;
//  - test send: one message through a channel, as a delivery.
// Every write is one transaction with its audit entry.
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Api } from '../http/app.ts';
import { requireActor } from '../platform/auth/index.ts';
import { hasRole } from '../platform/auth/scopes.ts';
import type { Actor, AppContext } from '../platform/context.ts';
import { appendAudit } from '../platform/audit/index.ts';
import { forbidden } from '../platform/errors.ts';
import * as channels from './channels.ts';
import * as prefs from './preferences.ts';
import * as templates from './templates.ts';
import { sendTestMessage } from './send.ts';

const tags = ['notify'];

function admin(r: FastifyRequest, scope: string): Actor {
  const actor = requireActor(r, { scope });
  if (!hasRole(actor.principal, 'integration_engineer')) {
    throw forbidden('Notification templates and channels need the role "admin" or "integration_engineer". Ask an administrator to grant it.');
  }
  return actor;
}

const TemplateParams = z.strictObject({ key: templates.TemplateKey, locale: templates.Language });
const IdOrName = z.strictObject({ id: z.string().min(1).max(100) });
const TestBody = z.strictObject({
  language: templates.Language.optional(),
  to: z.array(channels.Email).min(1).max(10).optional(),
  template: templates.TemplateKey.optional(),
  data: z.record(z.string().max(60), z.union([z.string().max(2000), z.number(), z.boolean()])).optional(),
});

export function notifyRoutes(api: Api, ctx: AppContext): void {
  // ---- templates ----------------------------------------------------------------------------------
  api.get('/notify/templates', { schema: { tags, summary: 'Message templates (built-in and saved), zh-CN and English' } }, async (request) => {
    admin(request, 'notify:read');
    return { items: await templates.listTemplates(ctx.db) };
  });
  api.put(
    '/notify/templates/:key/:locale',
    { schema: { tags, summary: 'Save a template ({{path}} placeholders over the notification data)', params: TemplateParams, body: templates.TemplatePut } },
    async (request) => {
      const actor = admin(request, 'notify:write');
      return ctx.db.tx((tx) => templates.putTemplate(tx, actor, request.params.key, request.params.locale, request.body));
    },
  );
  api.delete('/notify/templates/:key/:locale', { schema: { tags, summary: 'Delete a saved template (the built-in one applies again)', params: TemplateParams } }, async (request, reply) => {
    const actor = admin(request, 'notify:write');
    await ctx.db.tx((tx) => templates.deleteTemplate(tx, actor, request.params.key, request.params.locale));
    reply.code(204);
  });
  api.post(
    '/notify/templates/preview',
    {
      schema: {
        tags,
        summary: 'Render a template text with sample data (nothing is saved or sent)',
        body: z.strictObject({ title: z.string().min(1).max(500), body: z.string().min(1).max(10_000), data: z.record(z.string(), z.unknown()).default({}) }),
      },
    },
    async (request) => {
      admin(request, 'notify:read');
      const problems = [...templates.templateProblems(request.body.title), ...templates.templateProblems(request.body.body)];
      return {
        problems,
        title: templates.render(request.body.title, request.body.data),
        body: templates.render(request.body.body, request.body.data),
      };
    },
  );

  // ---- my preferences -------------------------------------------------------------------------------
  api.get('/notify/preferences', { schema: { tags, summary: 'My notification preferences' } }, async (request) => {
    const actor = requireActor(request, { scope: 'notify:read' });
    return prefs.getPreferences(ctx.db, actor.principal.userId);
  });
  api.put('/notify/preferences', { schema: { tags, summary: 'Change my notification preferences (replaces them)', body: prefs.PreferencesPut } }, async (request) => {
    const actor = requireActor(request, { scope: 'notify:write' });
    if (actor.principal.kind === 'system') throw forbidden('The system user has no notification preferences.');
    await ctx.db.tx((tx) => prefs.putPreferences(tx, actor, actor.principal.userId, request.body));
    return prefs.getPreferences(ctx.db, actor.principal.userId);
  });

  // ---- channels -------------------------------------------------------------------------------------
  api.get('/notify/channels', { schema: { tags, summary: 'Notification channels (which notifications go to which connector)' } }, async (request) => {
    admin(request, 'notify:read');
    return { items: (await channels.listChannels(ctx.db)).map(channels.viewChannel) };
  });
  api.post('/notify/channels', { schema: { tags, summary: 'Create a channel (and its delivery flow)', body: channels.ChannelCreate } }, async (request, reply) => {
    const actor = admin(request, 'notify:write');
    const row = await ctx.db.tx((tx) => channels.createChannel(tx, actor, request.body));
    reply.code(201);
    return channels.viewChannel(row);
  });
  api.get('/notify/channels/:id', { schema: { tags, summary: 'One channel', params: IdOrName } }, async (request) => {
    admin(request, 'notify:read');
    return channels.viewChannel(await channels.getChannel(ctx.db, request.params.id));
  });
  api.patch('/notify/channels/:id', { schema: { tags, summary: 'Change a channel', params: IdOrName, body: channels.ChannelPatch } }, async (request) => {
    const actor = admin(request, 'notify:write');
    return channels.viewChannel(await ctx.db.tx((tx) => channels.updateChannel(tx, actor, request.params.id, request.body)));
  });
  api.delete('/notify/channels/:id', { schema: { tags, summary: 'Delete a channel and its flow', params: IdOrName } }, async (request, reply) => {
    const actor = admin(request, 'notify:write');
    await ctx.db.tx((tx) => channels.deleteChannel(tx, actor, request.params.id));
    reply.code(204);
  });
  api.post(
    '/notify/channels/:id/test',
    { schema: { tags, summary: 'Send a test message through the channel (as a delivery; watch it on the integration screens)', params: IdOrName, body: TestBody } },
    async (request, reply) => {
      const actor = admin(request, 'notify:write');
      const result = await ctx.db.tx(async (tx) => {
        const ch = await channels.getChannel(tx, request.params.id);
        const sent = await sendTestMessage(tx, ch, { userId: actor.principal.userId, language: request.body.language, to: request.body.to, template: request.body.template, data: request.body.data, at: ctx.clock.now() });
        await appendAudit(tx, actor, { action: 'notify.channel.test', targetType: 'notify_channel', targetId: ch.id, detail: { name: ch.name, eventId: sent.eventId, to: sent.to } });
        return { channel: ch.name, flow: ch.flow_name, ...sent };
      });
      reply.code(202);
      return result;
    },
  );
}
