// IoT engine: energy meters (electricity, water, gas) and the minute-level energy ledger fed over
// MQTT (PRODUCT §5). Other folders import only this file.
//
//   GET  /api/v1/iot/meters                      the register (filter kind / equipment / cost centre)
//   POST /api/v1/iot/meters                      register a meter (admin, audited)
//   GET  /api/v1/iot/meters/:code/readings       readings per minute / hour / day over [from, to)
//   GET  /api/v1/iot/ingestion                   the MQTT worker's counters
//
// Ingestion runs when TRELLIS_MQTT_URL is set (TRELLIS_MQTT_TOPIC, default trellis/meters/+/reading;
// TRELLIS_MQTT_CLIENT_ID, TRELLIS_MQTT_USERNAME / _PASSWORD, TRELLIS_MQTT_BATCH, TRELLIS_MQTT_BATCH_WAIT_MS).
import type { Engine } from '../engine.ts';
import { ingestionConfigFromEnv, startIngestion } from './ingest.ts';
import { iotMigrations } from './migrations.ts';
import { iotRoutes } from './routes.ts';

export { iotMigrations } from './migrations.ts';
export {
  ReadingIngester,
  startIngestion,
  ingestionConfigFromEnv,
  meterCodeExtractor,
  currentIngestion,
  type IngestionConfig,
  type IngestionWorker,
  type IngestStats,
  type IngestHooks,
} from './ingest.ts';
export { startMqttBatchConsumer, type MqttBatchConsumer, type MqttBatchConsumerOptions, type MqttInbound } from './mqtt-consumer.ts';
export { listMeters, getMeter, createMeter, meterReadings, MeterInput, type Meter, type ReadingBucket, type Interval } from './meters.ts';

export const iotEngine: Engine = {
  name: 'iot',
  migrations: iotMigrations,
  routes: iotRoutes,
  start: async (ctx) => {
    const cfg = ingestionConfigFromEnv();
    if (!cfg) return async () => {};
    const worker = await startIngestion(ctx, cfg, { waitReady: false });
    ctx.log.info({ url: cfg.url, topic: cfg.topic, clientId: cfg.clientId }, 'MQTT meter ingestion started');
    return () => worker.stop();
  },
};
