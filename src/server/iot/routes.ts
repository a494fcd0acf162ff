// HTTP face of the IoT engine: the meter register, a meter's readings aggregated per
// minute/hour/day, and the state of the MQTT ingestion worker.
import { z } from 'zod';
import type { Api } from '../http/app.ts';
import { badRequest, registerScopes, requireActor, requireRole, type AppContext } from '../platform/index.ts';
import { currentIngestion } from './ingest.ts';
import { createMeter, getMeter, INTERVALS, listMeters, METER_KINDS, MeterInput, meterReadings } from './meters.ts';

registerScopes('iot:read', 'iot:write');

const CodeParams = z.strictObject({ code: z.string().min(1).max(64) });
const ListQuery = z.strictObject({
  kind: z.enum(METER_KINDS).optional(),
  equipmentCode: z.string().max(100).optional(),
  costCenter: z.string().max(100).optional(),
});
const ReadingsQuery = z.strictObject({
  from: z.iso.datetime({ offset: true }),
  to: z.iso.datetime({ offset: true }),
  interval: z.enum(INTERVALS).default('hour'),
});
/** At most this many buckets in one answer. */
const MAX_BUCKETS = 10_000;
const BUCKET_MS = { minute: 60_000, hour: 3600_000, day: 86_400_000 } as const;

export async function iotRoutes(api: Api, ctx: AppContext): Promise<void> {
  const tags = ['iot'];
  api.get('/iot/meters', { schema: { tags, summary: 'List meters (filter by kind, equipment, cost centre)', querystring: ListQuery } }, async (request) => {
    requireActor(request, { scope: 'iot:read' });
    return { items: await listMeters(ctx.db, request.query) };
  });

  api.post('/iot/meters', { schema: { tags, summary: 'Register a meter (admin)', body: MeterInput } }, async (request, reply) => {
    const actor = requireRole(request, 'admin');
    requireActor(request, { scope: 'iot:write' });
    const meter = await createMeter(ctx, actor, request.body);
    return reply.code(201).send(meter);
  });

  api.get('/iot/meters/:code', { schema: { tags, summary: 'One meter', params: CodeParams } }, async (request) => {
    requireActor(request, { scope: 'iot:read' });
    return getMeter(ctx.db, request.params.code);
  });

  api.get(
    '/iot/meters/:code/readings',
    {
      schema: {
        tags,
        summary: 'Readings of a meter over [from, to), aggregated per minute, hour or day (plant time zone)',
        params: CodeParams,
        querystring: ReadingsQuery,
      },
    },
    async (request) => {
      requireActor(request, { scope: 'iot:read' });
      const { from, to, interval } = request.query;
      const f = new Date(from);
      const t = new Date(to);
      if (t <= f) throw badRequest('"to" must be after "from". 结束时间必须晚于开始时间。', [{ path: 'querystring.to', message: 'must be after from' }]);
      if ((t.getTime() - f.getTime()) / BUCKET_MS[interval] > MAX_BUCKETS) {
        throw badRequest(`That range holds more than ${MAX_BUCKETS} ${interval} buckets; choose a coarser interval or a shorter range. 时间范围过大，请选择更粗的粒度或缩短范围。`, [
          { path: 'querystring.interval', message: 'too many buckets' },
        ]);
      }
      const meter = await getMeter(ctx.db, request.params.code);
      return { meter, interval, timezone: ctx.config.timezone, buckets: await meterReadings(ctx.db, meter, f, t, interval, ctx.config.timezone) };
    },
  );

  api.get('/iot/ingestion', { schema: { tags, summary: 'State of the MQTT ingestion worker of this instance' } }, async (request) => {
    requireActor(request, { scope: 'iot:read' });
    const w = currentIngestion();
    if (!w) return { running: false, message: 'MQTT ingestion is off on this instance (set TRELLIS_MQTT_URL). 本实例未启用 MQTT 采集。' };
    return { running: true, connected: w.consumer.client.connected, committed: w.consumer.committed, ...w.ingester.stats };
  });
}
