// Per-user notification preferences: language (else the user's locale), an email address (else
// the user's), which channels (in-app, email) for which kinds, and quiet hours in the plant's time
// zone during which no email is sent (the in-app notification is still written; group robots are
// not personal and are not affected).
import { z } from 'zod';
import type { Sql, Tx } from '../db/index.ts';
import type { Actor } from '../platform/context.ts';
import { appendAudit } from '../platform/audit/index.ts';
import { Email, Kind } from './channels.ts';
import { BUILTIN, Language } from './templates.ts';
import { languageOf } from './send.ts';

const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time HH:MM (24 h, plant time zone)');

export const PreferencesPut = z.strictObject({
  language: Language.nullish(),
  email: Email.nullish(),
  channels: z.record(Kind, z.array(z.enum(['inapp', 'email'])).max(2)).default({}),
  quietHours: z
    .strictObject({ start: HHMM, end: HHMM })
    .refine((q) => q.start !== q.end, 'start and end must differ (leave quietHours out for none)')
    .nullish(),
});
export type PreferencesPut = z.infer<typeof PreferencesPut>;

/** Kinds the preferences screen lists (any other kind may be set too). */
export const KNOWN_KINDS = Object.keys(BUILTIN).filter((k) => k !== 'message' && k !== 'test');

export interface PreferencesView {
  language: 'zh-CN' | 'en' | null;
  email: string | null;
  channels: Record<string, Array<'inapp' | 'email'>>;
  quietHours: { start: string; end: string } | null;
  /** What applies: the chosen values, else the profile's. */
  effective: { language: 'zh-CN' | 'en'; email: string | null; channels: Record<string, Array<'inapp' | 'email'>> };
  kinds: string[];
}

interface Row {
  language: 'zh-CN' | 'en' | null;
  email: string | null;
  channels: Record<string, Array<'inapp' | 'email'>> | null;
  quiet_start: string | null;
  quiet_end: string | null;
  user_locale: string | null;
  user_email: string | null;
}

export async function getPreferences(sql: Sql, userId: string): Promise<PreferencesView> {
  const r = await sql.query<Row>(
    `select p.language, p.email, p.channels, p.quiet_start, p.quiet_end, u.locale as user_locale, u.email as user_email
       from users u left join notify_preferences p on p.user_id = u.id where u.id = $1`,
    [userId],
  );
  const row = r.rows[0] ?? { language: null, email: null, channels: null, quiet_start: null, quiet_end: null, user_locale: null, user_email: null };
  const channels = row.channels ?? {};
  const effective: Record<string, Array<'inapp' | 'email'>> = {};
  for (const k of new Set([...KNOWN_KINDS, ...Object.keys(channels)])) effective[k] = channels[k] ?? ['inapp', 'email'];
  return {
    language: row.language,
    email: row.email,
    channels,
    quietHours: row.quiet_start && row.quiet_end ? { start: row.quiet_start, end: row.quiet_end } : null,
    effective: { language: row.language ?? languageOf(row.user_locale), email: row.email ?? row.user_email, channels: effective },
    kinds: KNOWN_KINDS,
  };
}

export async function putPreferences(tx: Tx, actor: Actor, userId: string, p: PreferencesPut): Promise<void> {
  await tx.query(
    `insert into notify_preferences (user_id, language, email, channels, quiet_start, quiet_end, updated_at) values ($1, $2, $3, $4, $5, $6, now())
     on conflict (user_id) do update set language = excluded.language, email = excluded.email, channels = excluded.channels,
       quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end, updated_at = now()`,
    [userId, p.language ?? null, p.email ?? null, JSON.stringify(p.channels), p.quietHours?.start ?? null, p.quietHours?.end ?? null],
  );
  await appendAudit(tx, actor, {
    action: 'notify.preferences.update',
    targetType: 'user',
    targetId: userId,
    detail: { language: p.language ?? null, email: p.email ? 'set' : 'profile', channels: p.channels, quietHours: p.quietHours ?? null },
  });
}
