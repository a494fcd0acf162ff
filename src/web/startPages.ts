// Which page module an address opens at start-up (besides the layout, which every signed-in page
// uses). Shared by the app's start-up preloading (App.tsx) and the build's modulepreload hints in
// index.html (vite.config.ts), so both fetch the same code for the same address.
export const START_PAGES = [
  { pattern: /^\/inbox(\/|$)/, module: 'pages/InboxPage.tsx' },
  { pattern: /^\/a\/[^/]+\/[^/]+\/[^/]+/, module: 'pages/RecordPage.tsx' },
  { pattern: /^\/a\/[^/]+\/[^/]+/, module: 'pages/ListPage.tsx' },
  { pattern: /^\/tasks\//, module: 'pages/TaskPage.tsx' },
  { pattern: /^\/$/, module: 'pages/HomePage.tsx' },
] as const;

export type StartModule = (typeof START_PAGES)[number]['module'];

/** Addresses that open no signed-in page (nothing to preload). */
export const PUBLIC_PATH = /^\/login(\/|$)/;

export function startModule(pathname: string): StartModule | null {
  return START_PAGES.find((p) => p.pattern.test(pathname))?.module ?? null;
}
