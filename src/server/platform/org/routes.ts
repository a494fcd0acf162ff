// HTTP face of the organisation: `/api/v1/org/...`. Reads need any signed-in person (API keys:
// scope `org:read`); writes need the role `admin` or `it_admin` (API keys: scope `org:write`).
// Each write is one transaction with its audit entry; afterwards cached principals are dropped
// so that new roles, departments or a deactivation take effect on the next request.
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Api } from '../../http/app.ts';
import type { Actor, AppContext } from '../context.ts';
import { notFound } from '../errors.ts';
import { invalidatePrincipals, requireActor, requireRole } from '../auth/index.ts';
import { hashPassword, passwordProblem } from '../auth/passwords.ts';
import { getManagerChain } from './queries.ts';
import {
  CreateDepartmentBody,
  CreatePositionBody,
  CreateRoleBody,
  CreateUserBody,
  DepartmentNode,
  DepartmentOut,
  Id,
  ListUsersQuery,
  PositionOut,
  RoleMembersBody,
  RoleOut,
  UpdateDepartmentBody,
  UpdatePositionBody,
  UpdateRoleBody,
  UpdateUserBody,
  UserOut,
  UserPage,
  Code,
} from './schemas.ts';
import * as org from './service.ts';
import { getCompany } from './demo.ts';

const tags = ['org'];
const IdParams = z.object({ id: Id }).strict();
const CodeParams = z.object({ code: Code }).strict();

function reader(request: FastifyRequest): Actor {
  return requireActor(request, { scope: 'org:read' });
}

function writer(request: FastifyRequest): Actor {
  requireActor(request, { scope: 'org:write' });
  return requireRole(request, 'it_admin');
}

export function orgRoutes(api: Api, ctx: AppContext): void {
  /** Runs one org write as one transaction; database refusals that slipped past the checks become 4xx. */
  async function write<T>(actor: Actor, fn: (w: org.OrgWrite) => Promise<T>): Promise<T> {
    try {
      return await ctx.db.tx(async (tx) => {
        tx.afterCommit(() => invalidatePrincipals(ctx));
        return fn({ tx, actor, at: ctx.clock.now() });
      });
    } catch (err) {
      throw org.mapOrgDbError(err);
    }
  }

  // ---------- departments ----------

  api.get(
    '/org/departments',
    {
      schema: {
        tags,
        summary: 'The department tree (nested), with heads and member counts',
        response: { 200: z.object({ company: z.object({ name: z.string(), nameEn: z.string().nullable() }).nullable(), items: z.array(DepartmentNode) }) },
      },
    },
    async (request) => {
      reader(request);
      return { company: await getCompany(ctx.db), items: await org.getDepartmentTree(ctx.db) };
    },
  );

  api.get(
    '/org/departments/:id',
    { schema: { tags, summary: 'One department', params: IdParams, response: { 200: DepartmentOut } } },
    async (request) => {
      reader(request);
      const d = await org.getDepartment(ctx.db, request.params.id);
      if (!d) throw notFound(`There is no department with id ${request.params.id}.`);
      return d;
    },
  );

  api.post(
    '/org/departments',
    { schema: { tags, summary: 'Create a department', body: CreateDepartmentBody, response: { 201: DepartmentOut } } },
    async (request, reply) => {
      const actor = writer(request);
      const d = await write(actor, (w) => org.createDepartment(w, request.body));
      return reply.code(201).send(d);
    },
  );

  api.patch(
    '/org/departments/:id',
    {
      schema: {
        tags,
        summary: 'Rename, move (parentId), set the head or the order of a department',
        params: IdParams,
        body: UpdateDepartmentBody,
        response: { 200: DepartmentOut },
      },
    },
    async (request) => {
      const actor = writer(request);
      return write(actor, (w) => org.updateDepartment(w, request.params.id, request.body));
    },
  );

  api.delete(
    '/org/departments/:id',
    { schema: { tags, summary: 'Delete an empty department (no sub-departments, no members)', params: IdParams } },
    async (request, reply) => {
      const actor = writer(request);
      await write(actor, (w) => org.deleteDepartment(w, request.params.id));
      return reply.code(204).send();
    },
  );

  // ---------- positions ----------

  api.get('/org/positions', { schema: { tags, summary: 'Positions (job grades), highest level first', response: { 200: z.object({ items: z.array(PositionOut) }) } } }, async (request) => {
    reader(request);
    return { items: await org.listPositions(ctx.db) };
  });

  api.post(
    '/org/positions',
    { schema: { tags, summary: 'Create a position', body: CreatePositionBody, response: { 201: PositionOut } } },
    async (request, reply) => {
      const actor = writer(request);
      return reply.code(201).send(await write(actor, (w) => org.createPosition(w, request.body)));
    },
  );

  api.patch(
    '/org/positions/:id',
    { schema: { tags, summary: 'Change a position', params: IdParams, body: UpdatePositionBody, response: { 200: PositionOut } } },
    async (request) => {
      const actor = writer(request);
      return write(actor, (w) => org.updatePosition(w, request.params.id, request.body));
    },
  );

  api.delete('/org/positions/:id', { schema: { tags, summary: 'Delete a position nobody holds', params: IdParams } }, async (request, reply) => {
    const actor = writer(request);
    await write(actor, (w) => org.deletePosition(w, request.params.id));
    return reply.code(204).send();
  });

  // ---------- people ----------

  api.get(
    '/org/users',
    { schema: { tags, summary: 'People: search, department (with sub-departments), role, status; paged', querystring: ListUsersQuery, response: { 200: UserPage } } },
    async (request) => {
      reader(request);
      return org.listUsers(ctx.db, request.query);
    },
  );

  api.get('/org/users/:id', { schema: { tags, summary: 'One person', params: IdParams, response: { 200: UserOut } } }, async (request) => {
    reader(request);
    const u = await org.getUser(ctx.db, request.params.id);
    if (!u) throw notFound(`There is no person with id ${request.params.id}.`);
    return u;
  });

  api.get(
    '/org/users/:id/manager-chain',
    {
      schema: {
        tags,
        summary: 'Managers above a person, nearest first',
        params: IdParams,
        querystring: z.object({ levels: z.coerce.number().int().min(1).max(20).default(10) }).strict(),
        response: {
          200: z.object({
            items: z.array(z.object({ id: z.string(), username: z.string(), displayName: z.string(), level: z.number(), active: z.boolean() })),
          }),
        },
      },
    },
    async (request) => {
      reader(request);
      const exists = await ctx.db.query(`select 1 from users where id = $1 and kind <> 'system'`, [request.params.id]);
      if (exists.rows.length === 0) throw notFound(`There is no person with id ${request.params.id}.`);
      return { items: await getManagerChain(ctx.db, request.params.id, request.query.levels) };
    },
  );

  api.post(
    '/org/users',
    { schema: { tags, summary: 'Create a person (departments, manager, position, roles, optional password)', body: CreateUserBody, response: { 201: UserOut } } },
    async (request, reply) => {
      const actor = writer(request);
      const { password } = request.body;
      // Hash outside the transaction: ~50 ms of CPU that must not hold the database.
      const passwordHash = password !== undefined && passwordProblem(password) === null ? await hashPassword(password) : undefined;
      const u = await write(actor, (w) => org.createUser(w, request.body, { passwordHash }));
      return reply.code(201).send(u);
    },
  );

  api.patch(
    '/org/users/:id',
    {
      schema: {
        tags,
        summary: 'Change a person: names, contact, departments (primary), manager, position, title, locale',
        params: IdParams,
        body: UpdateUserBody,
        response: { 200: UserOut },
      },
    },
    async (request) => {
      const actor = writer(request);
      return write(actor, (w) => org.updateUser(w, request.params.id, request.body));
    },
  );

  api.post(
    '/org/users/:id/deactivate',
    { schema: { tags, summary: 'Deactivate a person: no sign-in, not picked as approver; history kept', params: IdParams, response: { 200: UserOut } } },
    async (request) => {
      const actor = writer(request);
      return write(actor, (w) => org.deactivateUser(w, request.params.id));
    },
  );

  api.post(
    '/org/users/:id/reactivate',
    { schema: { tags, summary: 'Reactivate a person', params: IdParams, response: { 200: UserOut } } },
    async (request) => {
      const actor = writer(request);
      return write(actor, (w) => org.reactivateUser(w, request.params.id));
    },
  );

  // ---------- roles ----------

  api.get('/org/roles', { schema: { tags, summary: 'Roles with their number of active members', response: { 200: z.object({ items: z.array(RoleOut) }) } } }, async (request) => {
    reader(request);
    return { items: await org.listRoles(ctx.db) };
  });

  api.post('/org/roles', { schema: { tags, summary: 'Create a role', body: CreateRoleBody, response: { 201: RoleOut } } }, async (request, reply) => {
    const actor = writer(request);
    return reply.code(201).send(await write(actor, (w) => org.createRole(w, request.body)));
  });

  api.patch(
    '/org/roles/:code',
    { schema: { tags, summary: 'Rename or describe a role', params: CodeParams, body: UpdateRoleBody, response: { 200: RoleOut } } },
    async (request) => {
      const actor = writer(request);
      return write(actor, (w) => org.updateRole(w, request.params.code, request.body));
    },
  );

  api.delete('/org/roles/:code', { schema: { tags, summary: 'Delete a role (not a built-in one)', params: CodeParams } }, async (request, reply) => {
    const actor = writer(request);
    await write(actor, (w) => org.deleteRole(w, request.params.code));
    return reply.code(204).send();
  });

  api.get(
    '/org/roles/:code/members',
    { schema: { tags, summary: 'People holding a role', params: CodeParams, response: { 200: z.object({ items: z.array(UserOut) }) } } },
    async (request) => {
      reader(request);
      return { items: await org.listRoleMembers(ctx.db, request.params.code) };
    },
  );

  api.post(
    '/org/roles/:code/members',
    {
      schema: {
        tags,
        summary: 'Give a role to people (those who hold it already are left alone)',
        params: CodeParams,
        body: RoleMembersBody,
        response: { 200: z.object({ added: z.array(z.string()) }) },
      },
    },
    async (request) => {
      const actor = writer(request);
      return { added: await write(actor, (w) => org.assignRole(w, request.params.code, request.body.userIds)) };
    },
  );

  api.delete(
    '/org/roles/:code/members/:userId',
    {
      schema: {
        tags,
        summary: 'Take a role away from a person',
        params: z.object({ code: Code, userId: Id }).strict(),
        response: { 200: z.object({ removed: z.boolean() }) },
      },
    },
    async (request) => {
      const actor = writer(request);
      return { removed: await write(actor, (w) => org.unassignRole(w, request.params.code, request.params.userId)) };
    },
  );
}
