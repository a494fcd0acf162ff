// The business-hours calendars API (src/server/workflow/calendar-store.ts) as the calendars page
// and the approval designer use it. The definition is what the server's CalendarDef accepts.
import { api } from '../api.ts';

export interface CalendarDefinition {
  label?: { zh: string; en?: string };
  timeZone: string;
  /** ISO weekdays: 1 Monday … 7 Sunday. */
  weekdays: number[];
  hours: Array<{ from: string; to: string }>;
  holidays: string[];
  /** 调休: working days although their weekday is not one. */
  workdays: string[];
}

export interface StoredCalendar {
  name: string;
  definition: CalendarDefinition;
  /** The built-in plant default, never saved by an administrator. */
  builtIn: boolean;
  updatedAt: string | null;
}

export interface DuePreview {
  from: string;
  minutes: number;
  due: string;
  wallMinutes: number;
}

/** The plant's own calendar: it always exists and cannot be deleted. */
export const DEFAULT_CALENDAR = 'default';
export const CALENDARS_KEY = ['workflow', 'calendars'] as const;

const at = (name: string) => `/workflow/calendars/${encodeURIComponent(name)}`;

export const calendarsApi = {
  list: () => api.get<{ items: StoredCalendar[] }>('/workflow/calendars').then((r) => r.items),
  save: (name: string, definition: CalendarDefinition) => api.put<StoredCalendar>(at(name), definition),
  remove: (name: string) => api.delete<void>(at(name)),
  due: (name: string, from: string, minutes: number) => api.get<DuePreview>(`${at(name)}/due?from=${encodeURIComponent(from)}&minutes=${minutes}`),
};
