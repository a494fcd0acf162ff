// Platform engine: organisation, accounts, sessions, API keys, audit.
import type { Engine } from '../engine.ts';
import { platformMigrations } from './migrations.ts';
import { eventsMigrations } from './events/index.ts';
import { authRoutes, bootstrapAuth, installAuth } from './auth/index.ts';
import { bootstrapOrg, orgRoutes } from './org/index.ts';
import { auditRoutes } from './audit/routes.ts';
import { startAuditSealer } from './audit/index.ts';

export * from './errors.ts';
export * from './context.ts';
export { requireActor, requireRole, actorOf, metaOf, hasRole, hasScope, invalidatePrincipals, registerScopes } from './auth/index.ts';
export {
  getDepartmentHead,
  getDepartmentHeadChain,
  getManagerChain,
  usersWithRole,
  departmentSubtreeIds,
  departmentAncestorIds,
  loadPrincipalData,
  seedDemoPlant,
  DEMO_PASSWORD,
  type OrgPerson,
  type DepartmentHead,
  type ManagerLink,
  type PrincipalData,
} from './org/index.ts';
export { appendAudit, auditStatement, sealAudit, verifyAuditChain, type AuditEvent, type VerifyResult } from './audit/index.ts';
export { emitEvent, outboxStatement, readOutbox, toCloudEvent, OUTBOX_CHANNEL, type CloudEvent, type EmitInput, type OutboxRow } from './events/index.ts';

export const platformEngine: Engine = {
  name: 'platform',
  migrations: [...platformMigrations, ...eventsMigrations],
  routes: async (api, ctx) => {
    installAuth(api, ctx); // first: every /api/v1 route registered after this sees request.principal
    authRoutes(api, ctx);
    orgRoutes(api, ctx);
    auditRoutes(api, ctx);
  },
  bootstrap: async (ctx, opts) => {
    await bootstrapAuth(ctx, opts);
    await bootstrapOrg(ctx, opts); // after the admin exists: the demo plant puts them in IT
  },
  start: async (ctx) => startAuditSealer(ctx.db, (err) => ctx.log.error({ err }, 'audit sealer failed')),
};
