// Tables of the notification layer. In-app notifications stay in the workflow's `wf_notifications`
// (the inbox, its unread count and "mark read" already serve them); this engine only widens the
// set of kinds it accepts so automations and apps can write their own. Templates override the
// built-in ones per (key, language); preferences are per user; channels tie a notification
// filter to an integration flow, so every external send is a delivery.
import type { Migration } from '../db/index.ts';

export const notifyMigrations: Migration[] = [
  {
    id: 'notify.001-channels',
    up: `
alter table wf_notifications drop constraint if exists wf_notifications_kind_check;
alter table wf_notifications add constraint wf_notifications_kind_format check (kind ~ '^[a-z][a-z0-9_.]{0,59}$');

create table notify_templates (
  key text not null,
  locale text not null check (locale in ('zh-CN', 'en')),
  title text not null,
  body text not null,
  version int not null default 1,
  updated_at timestamptz not null default now(),
  updated_by uuid,
  primary key (key, locale)
);

create table notify_preferences (
  user_id uuid primary key references users(id) on delete cascade,
  language text check (language in ('zh-CN', 'en')),   -- null: the user's locale
  email text,                                          -- null: the user's email
  channels jsonb not null default '{}'::jsonb,         -- {kind: ["inapp", "email"]}; absent kind = both
  quiet_start text,                                    -- HH:MM plant time; email is held back inside
  quiet_end text,
  updated_at timestamptz not null default now()
);

-- A channel: which notifications (kinds, app, department) go to which connector, through a flow
-- the channel owns (deleting the flow removes the channel).
create table notify_channels (
  id uuid primary key,
  name text not null unique,
  flow_id uuid not null unique references integration_flows(id) on delete cascade,
  audience text not null check (audience in ('group', 'recipients')),
  kinds text[] not null,
  app text,
  department_id uuid references departments(id) on delete cascade,
  language text not null default 'zh-CN' check (language in ('zh-CN', 'en')),
  to_addresses text[],
  enabled boolean not null default true,
  version int not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
`,
  },
  {
    // the kind rule as a domain (see workflow.007): not re-read and planned on every insert
    id: 'notify.002-kind-domain',
    up: `create domain notification_kind as text check (value ~ '^[a-z][a-z0-9_.]{0,59}$');
alter table wf_notifications drop constraint if exists wf_notifications_kind_format;
alter table wf_notifications alter column kind type notification_kind;`,
  },
];
