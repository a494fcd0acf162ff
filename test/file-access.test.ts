// Downloads follow record permissions (files/access.ts, records/file-refs.ts), on PGlite and
// (TRELLIS_TEST_PG) PostgreSQL: a file held by a record's field — also in a child row — is
// served to whoever may read that record (row scope) and that field; the uploader always; a
// comment attachment to whoever may read the trail; an approver to the fields of the document
// not hidden at their step. Everyone else gets 404, as for a file that does not exist.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishApp } from '../src/server/modeling/index.ts';
import { DEMO_PASSWORD, systemActor } from '../src/server/platform/index.ts';
import { backfillFileRefs } from '../src/server/records/file-refs.ts';
import { testTarget } from './helpers/db.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');

const app = {
  name: 'fa',
  label: { zh: '文件权限' },
  entities: [
    {
      name: 'report',
      label: { zh: '检验报告' },
      submittable: true,
      fields: [
        { name: 'title', type: 'text', label: { zh: '标题' } },
        { name: 'photos', type: 'image', label: { zh: '照片' } },
        { name: 'secret', type: 'attachment', label: { zh: '内部附件' } },
        { name: 'sign', type: 'signature', label: { zh: '签名' } },
        { name: 'items', type: 'child_table', target: 'line', label: { zh: '明细' } },
      ],
      permissions: [
        // operators: their own department's reports, every field
        { role: 'operator', actions: ['read', 'create', 'write', 'delete', 'submit'], scope: 'own_department' },
        // inspectors: every report, but not the internal attachment
        { role: 'inspector', actions: ['read'], fields: { secret: 'hidden' } },
      ],
    },
    {
      name: 'line',
      label: { zh: '明细行' },
      child: true,
      fields: [
        { name: 'part', type: 'text', label: { zh: '零件' } },
        { name: 'photo', type: 'image', label: { zh: '零件照片' } },
      ],
    },
  ],
  workflows: [
    {
      name: 'report_approval',
      entity: 'report',
      label: { zh: '报告审批' },
      root: {
        id: 'start',
        type: 'initiator',
        next: { id: 'plant', type: 'approver', approvers: [{ kind: 'users', users: ['chen.plant'] }], fields: { secret: 'hidden' } },
      },
    },
  ],
};

describe(`file downloads follow record permissions (${testTarget})`, () => {
  let t: TestTrellis;
  let wang: TestSession; // operator, machining_t1: creates the reports
  let zhang: TestSession; // operator, machining_t1: same department
  let yang: TestSession; // operator, machining_t2: outside the row scope
  let luo: TestSession; // inspector: reads every report, not `secret`
  let chen: TestSession; // plant manager: no rights on the entity, approver of the workflow
  let admin: TestSession;

  beforeAll(async () => {
    t = await createTestTrellis({ seedDemo: true });
    await publishApp(t.ctx, systemActor, app as never);
    admin = await loginAs(t);
    const login = (u: string) => loginAs(t, u, DEMO_PASSWORD);
    [wang, zhang, yang, luo, chen] = [await login('wang.operator'), await login('zhang.operator'), await login('yang.operator'), await login('luo.inspector'), await login('chen.plant')];
  });
  afterAll(async () => {
    await t?.destroy();
  });

  async function upload(s: TestSession, name: string): Promise<{ id: string; name: string; contentType: string; size: number }> {
    const r = await s.inject({ method: 'POST', url: `/api/v1/files?name=${name}`, headers: { 'content-type': 'image/png' }, payload: PNG });
    expect(r.statusCode, r.body).toBe(201);
    const m = r.json();
    return { id: m.id as string, name: m.name as string, contentType: m.contentType as string, size: m.size as number };
  }
  const status = async (s: TestSession, id: string) => (await s.inject(`/api/v1/files/${id}`)).statusCode;
  const records = '/api/v1/apps/fa/entities/report/records';

  async function createReport(values: Record<string, unknown>) {
    const r = await wang.inject({ method: 'POST', url: records, payload: { values } });
    expect(r.statusCode, r.body).toBe(201);
    return r.json() as { id: string; version: number };
  }

  it('the uploader sees the photo before the record is saved; nobody else does (404, like a missing file)', async () => {
    const f = await upload(wang, 'draft.png');
    const own = await wang.inject(`/api/v1/files/${f.id}`);
    expect(own.statusCode).toBe(200);
    expect(Buffer.compare(own.rawPayload, PNG)).toBe(0);
    expect((await wang.inject(`/api/v1/files/${f.id}/meta`)).statusCode).toBe(200);
    for (const s of [zhang, yang, luo, chen]) expect(await status(s, f.id)).toBe(404);
    const denied = await zhang.inject(`/api/v1/files/${f.id}/meta`);
    expect(denied.statusCode).toBe(404);
    expect(denied.headers['content-type']).toContain('application/problem+json');
    expect(await status(admin, f.id)).toBe(200);
  });

  it('a record field: readers within the row scope get the bytes, those outside it or without the field get 404', async () => {
    const photo = await upload(wang, 'photo.png');
    const secret = await upload(wang, 'secret.png');
    const sign = await upload(wang, 'sign.png');
    const part = await upload(wang, 'part.png');
    const rec = await createReport({
      title: '来料检验',
      photos: [photo],
      secret: [secret],
      sign,
      items: [{ part: 'P-1', photo: [part] }],
    });
    const refs = await t.ctx.db.query<{ file_id: string; field: string }>('select file_id, field from file_refs where record_id = $1 order by field', [rec.id]);
    expect(refs.rows).toEqual([
      { file_id: part.id, field: 'items.photo' },
      { file_id: photo.id, field: 'photos' },
      { file_id: secret.id, field: 'secret' },
      { file_id: sign.id, field: 'sign' },
    ]);

    // same department: every field, also the child row's photo
    for (const f of [photo, secret, sign, part]) {
      const d = await zhang.inject(`/api/v1/files/${f.id}`);
      expect(d.statusCode, f.name).toBe(200);
      expect(Buffer.compare(d.rawPayload, PNG)).toBe(0);
    }
    // other department: outside the row scope
    for (const f of [photo, secret, sign, part]) expect(await status(yang, f.id), f.name).toBe(404);
    // inspector: every row, but `secret` is hidden from them
    for (const f of [photo, sign, part]) expect(await status(luo, f.id), f.name).toBe(200);
    expect(await status(luo, secret.id)).toBe(404);
    expect((await luo.inject(`/api/v1/files/${secret.id}/meta`)).statusCode).toBe(404);
    // no rights on the entity at all
    expect(await status(chen, photo.id)).toBe(404);
  });

  it('removing the attachment or deleting the record takes the access away (the uploader keeps it)', async () => {
    const photo = await upload(wang, 'gone.png');
    const kept = await upload(wang, 'kept.png');
    const part = await upload(wang, 'line.png');
    const rec = await createReport({ title: '复检', photos: [photo, kept], items: [{ part: 'P-2', photo: [part] }] });
    expect(await status(zhang, photo.id)).toBe(200);
    expect(await status(zhang, part.id)).toBe(200);

    const u = await wang.inject({ method: 'PATCH', url: `${records}/${rec.id}`, payload: { version: rec.version, values: { photos: [kept], items: [] } } });
    expect(u.statusCode, u.body).toBe(200);
    expect(await status(zhang, photo.id)).toBe(404);
    expect(await status(zhang, part.id)).toBe(404);
    expect(await status(zhang, kept.id)).toBe(200);
    expect(await status(wang, photo.id)).toBe(200); // the uploader

    const d = await wang.inject({ method: 'DELETE', url: `${records}/${rec.id}`, headers: { 'if-match': `W/"${u.json().version as number}"` } });
    expect(d.statusCode, d.body).toBe(204);
    expect(await status(zhang, kept.id)).toBe(404);
    expect((await t.ctx.db.query('select 1 from file_refs where record_id = $1', [rec.id])).rows).toEqual([]);
    expect(await status(wang, kept.id)).toBe(200);
  });

  it('the migration that adds file_refs fills it from the rows already there', async () => {
    const photo = await upload(wang, 'old.png');
    const part = await upload(wang, 'old-line.png');
    const rec = await createReport({ title: '旧数据', photos: [photo], items: [{ part: 'P-3', photo: [part] }] });
    const before = await t.ctx.db.query('select file_id, app, entity, record_id, field from file_refs order by file_id, field');
    await t.ctx.db.query('delete from file_refs');
    expect(await status(zhang, photo.id)).toBe(404);
    await t.ctx.db.tx((tx) => backfillFileRefs(tx));
    expect((await t.ctx.db.query('select file_id, app, entity, record_id, field from file_refs order by file_id, field')).rows).toEqual(before.rows);
    expect(before.rows).toContainEqual({ file_id: part.id, app: 'fa', entity: 'report', record_id: rec.id, field: 'items.photo' });
    expect(await status(zhang, photo.id)).toBe(200);
  });

  it('a failed write leaves the refs as they were', async () => {
    const photo = await upload(wang, 'stale.png');
    const rec = await createReport({ title: '版本', photos: [photo] });
    const other = await upload(wang, 'other.png');
    const stale = await wang.inject({ method: 'PATCH', url: `${records}/${rec.id}`, payload: { version: rec.version + 5, values: { photos: [other] } } });
    expect(stale.statusCode).toBe(409);
    expect(await status(zhang, photo.id)).toBe(200);
    expect(await status(zhang, other.id)).toBe(404);
  });

  it('approvals: the approver sees the fields not hidden at their step; comment attachments follow the trail', async () => {
    const photo = await upload(wang, 'approve.png');
    const secret = await upload(wang, 'approve-secret.png');
    const rec = await createReport({ title: '待审批', photos: [photo], secret: [secret] });
    const sub = await wang.inject({ method: 'POST', url: `${records}/${rec.id}/submit`, payload: { version: rec.version } });
    expect(sub.statusCode, sub.body).toBe(202);
    const instanceId = sub.json().intercepted.workflow.instanceId as string;

    // chen has no rights on the entity, but approves it: the photo yes, the field hidden at the step no
    expect(await status(chen, photo.id)).toBe(200);
    expect(await status(chen, secret.id)).toBe(404);
    expect(await status(yang, photo.id)).toBe(404);

    const note = await upload(chen, 'note.png');
    expect(await status(wang, note.id)).toBe(404); // not attached to anything yet
    const c = await chen.inject({ method: 'POST', url: `/api/v1/workflow/instances/${instanceId}/actions`, payload: { action: 'comment', comment: '见附图', attachments: [note] } });
    expect(c.statusCode, c.body).toBe(200);
    expect(await status(wang, note.id)).toBe(200); // the initiator reads the trail
    for (const s of [luo, yang, zhang]) expect(await status(s, note.id)).toBe(404); // no part in the approval
  });
});
