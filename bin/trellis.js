#!/usr/bin/env node
// Package bin: runs the TypeScript CLI on Node 24 (type stripping). npm puts the pinned
// Node 24 from devDependencies first on PATH, so `npx trellis` uses it.
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(`trellis needs Node.js 24 or newer (this is ${process.version}). Run it through npm: "npx trellis ..." or "npm run trellis -- ...".`);
  process.exit(1);
}
await import('../src/server/cli.ts');
