// Shapes of the organisation API: what may be sent (strict, so a misspelt field is an error,
// not silently ignored) and what comes back. Used by the routes and by the service itself,
// so callers inside the server get the same checks as HTTP clients.
import { z } from 'zod';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
export const noControl = (s: string) => !CONTROL.test(s);

/** Text a person typed: no control characters (PostgreSQL refuses NUL), trimmed, bounded. */
export const Text = (max: number, what = 'text') =>
  z
    .string()
    .trim()
    .min(1, `${what} must not be empty`)
    .max(max, `${what} must be at most ${max} characters`)
    .refine(noControl, `${what} must not contain control characters`);

/** Codes are stable keys other definitions refer to: `machining_t1`, `quality_engineer`. */
export const Code = z
  .string()
  .min(1, 'must not be empty')
  .max(64, 'must be at most 64 characters')
  .regex(/^[a-z][a-z0-9_]*$/, 'use lower-case letters, digits and underscores, starting with a letter (e.g. "machining_t1")');

export const Username = z
  .string()
  .min(2, 'must be at least 2 characters')
  .max(64, 'must be at most 64 characters')
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'use lower-case letters, digits, ".", "_" and "-", starting with a letter or digit (e.g. "wang.operator")');

export const Id = z.guid('must be an id (UUID)');

const Email = z.email('must be an e-mail address').max(254);
const Phone = z
  .string()
  .max(32, 'must be at most 32 characters')
  .regex(/^\+?[0-9][0-9 -]{2,30}$/, 'must be a phone number: digits, spaces and dashes, optionally starting with +');
const Sort = z.number().int('must be a whole number').min(-1_000_000).max(1_000_000);
const Level = z.number().int('must be a whole number').min(0).max(100);
const Locale = z.enum(['zh-CN', 'en']);

const atLeastOne = (o: object) => Object.keys(o).length > 0;
const nothingToChange = 'send at least one field to change';

// ---------- departments ----------

export const CreateDepartmentBody = z
  .object({
    code: Code,
    name: Text(100, 'name'),
    nameEn: Text(100, 'nameEn').nullish(),
    parentId: Id.nullish(),
    headUserId: Id.nullish(),
    sort: Sort.optional(),
  })
  .strict();
export type CreateDepartmentInput = z.infer<typeof CreateDepartmentBody>;

export const UpdateDepartmentBody = z
  .object({
    code: Code.optional(),
    name: Text(100, 'name').optional(),
    nameEn: Text(100, 'nameEn').nullish(),
    /** Moving: the new parent; null makes it a top-level department. */
    parentId: Id.nullish(),
    headUserId: Id.nullish(),
    sort: Sort.optional(),
  })
  .strict()
  .refine(atLeastOne, nothingToChange);
export type UpdateDepartmentInput = z.infer<typeof UpdateDepartmentBody>;

export const UserRef = z.object({ id: z.string(), username: z.string(), displayName: z.string(), displayNameEn: z.string().nullable() });
export type UserRef = z.infer<typeof UserRef>;

export const DepartmentOut = z.object({
  id: z.string(),
  code: z.string(),
  name: z.string(),
  nameEn: z.string().nullable(),
  parentId: z.string().nullable(),
  head: UserRef.nullable(),
  sort: z.number(),
  /** People whose department this is (not counting sub-departments). */
  memberCount: z.number(),
});
export type DepartmentOut = z.infer<typeof DepartmentOut>;

export interface DepartmentNode extends DepartmentOut {
  children: DepartmentNode[];
}
export const DepartmentNode: z.ZodType<DepartmentNode> = DepartmentOut.extend({
  get children(): z.ZodArray<z.ZodType<DepartmentNode>> {
    return z.array(DepartmentNode);
  },
});

// ---------- positions ----------

export const CreatePositionBody = z
  .object({ code: Code, name: Text(100, 'name'), nameEn: Text(100, 'nameEn').nullish(), level: Level.optional() })
  .strict();
export type CreatePositionInput = z.infer<typeof CreatePositionBody>;

export const UpdatePositionBody = z
  .object({ code: Code.optional(), name: Text(100, 'name').optional(), nameEn: Text(100, 'nameEn').nullish(), level: Level.optional() })
  .strict()
  .refine(atLeastOne, nothingToChange);
export type UpdatePositionInput = z.infer<typeof UpdatePositionBody>;

export const PositionOut = z.object({
  id: z.string(),
  code: z.string(),
  name: z.string(),
  nameEn: z.string().nullable(),
  level: z.number(),
  userCount: z.number(),
});
export type PositionOut = z.infer<typeof PositionOut>;

// ---------- users ----------

const DepartmentIds = z
  .array(Id)
  .min(1, 'a person belongs to at least one department')
  .max(20, 'at most 20 departments')
  .refine((a) => new Set(a).size === a.length, 'lists a department twice');

export const CreateUserBody = z
  .object({
    username: Username,
    displayName: Text(100, 'displayName'),
    displayNameEn: Text(100, 'displayNameEn').nullish(),
    email: Email.nullish(),
    phone: Phone.nullish(),
    /** Optional: without one the person cannot sign in with a password until it is set. */
    password: z.string().max(256).optional(),
    departmentIds: DepartmentIds,
    /** Defaults to the first of `departmentIds`. */
    primaryDepartmentId: Id.optional(),
    managerId: Id.nullish(),
    positionId: Id.nullish(),
    title: Text(100, 'title').nullish(),
    locale: Locale.optional(),
    /** Role codes; `employee` is always included. */
    roles: z.array(Code).max(50).optional(),
  })
  .strict();
export type CreateUserInput = z.infer<typeof CreateUserBody>;

export const UpdateUserBody = z
  .object({
    displayName: Text(100, 'displayName').optional(),
    displayNameEn: Text(100, 'displayNameEn').nullish(),
    email: Email.nullish(),
    phone: Phone.nullish(),
    departmentIds: DepartmentIds.optional(),
    primaryDepartmentId: Id.optional(),
    managerId: Id.nullish(),
    positionId: Id.nullish(),
    title: Text(100, 'title').nullish(),
    locale: Locale.optional(),
  })
  .strict()
  .refine(atLeastOne, nothingToChange);
export type UpdateUserInput = z.infer<typeof UpdateUserBody>;

// Accepts the parsed value too, so that parsing twice (route, then service) gives the same result.
const boolString = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]);

export const ListUsersQuery = z
  .object({
    /** Part of the username, name, English name, e-mail or phone. */
    q: z.string().max(100).refine(noControl, 'must not contain control characters').optional(),
    departmentId: Id.optional(),
    /** With `departmentId`: include people of its sub-departments (default true). */
    includeSubdepartments: boolString.optional(),
    role: Code.optional(),
    status: z.enum(['active', 'inactive', 'all']).default('active'),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
  })
  .strict();
export type ListUsersQuery = z.infer<typeof ListUsersQuery>;

export const UserOut = z.object({
  id: z.string(),
  username: z.string(),
  displayName: z.string(),
  displayNameEn: z.string().nullable(),
  email: z.string().nullable(),
  phone: z.string().nullable(),
  kind: z.string(),
  active: z.boolean(),
  locale: z.string(),
  title: z.string().nullable(),
  hasPassword: z.boolean(),
  position: z.object({ id: z.string(), code: z.string(), name: z.string(), nameEn: z.string().nullable(), level: z.number() }).nullable(),
  manager: UserRef.nullable(),
  departments: z.array(z.object({ id: z.string(), code: z.string(), name: z.string(), nameEn: z.string().nullable(), primary: z.boolean() })),
  roles: z.array(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type UserOut = z.infer<typeof UserOut>;

export const UserPage = z.object({ items: z.array(UserOut), total: z.number(), limit: z.number(), offset: z.number() });
export type UserPage = z.infer<typeof UserPage>;

// ---------- roles ----------

export const CreateRoleBody = z
  .object({ code: Code, name: Text(100, 'name'), nameEn: Text(100, 'nameEn').nullish(), description: Text(1000, 'description').nullish() })
  .strict();
export type CreateRoleInput = z.infer<typeof CreateRoleBody>;

export const UpdateRoleBody = z
  .object({ name: Text(100, 'name').optional(), nameEn: Text(100, 'nameEn').nullish(), description: Text(1000, 'description').nullish() })
  .strict()
  .refine(atLeastOne, nothingToChange);
export type UpdateRoleInput = z.infer<typeof UpdateRoleBody>;

export const RoleMembersBody = z
  .object({
    userIds: z
      .array(Id)
      .min(1, 'name at least one user')
      .max(500)
      .refine((a) => new Set(a).size === a.length, 'lists a user twice'),
  })
  .strict();

export const RoleOut = z.object({
  id: z.string(),
  code: z.string(),
  name: z.string(),
  nameEn: z.string().nullable(),
  description: z.string().nullable(),
  builtin: z.boolean(),
  memberCount: z.number(),
});
export type RoleOut = z.infer<typeof RoleOut>;
