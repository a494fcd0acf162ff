#!/usr/bin/env node
// `trellis` command line. Each command is a small function in cli/ ; this file only dispatches.
import { loadConfig, ConfigError } from './config.ts';
import { DataDirLockedError } from './db/index.ts';
import { commands } from './cli/commands.ts';

const USAGE = `Usage: trellis <command> [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(22)} ${c.summary}`).join('\n')}

Configuration comes from environment variables (PORT, TRELLIS_DATA_DIR, DATABASE_URL, ...); see README.md.`;

async function main(argv: string[]): Promise<number> {
  const words = argv.filter((a) => !a.startsWith('-'));
  // Longest command name that matches the leading words: `user create`, `audit verify`, `start`.
  const cmd = [...commands]
    .sort((a, b) => b.name.split(' ').length - a.name.split(' ').length)
    .find((c) => c.name.split(' ').every((w, i) => words[i] === w));
  if (!cmd || argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return cmd || argv.length === 0 || argv.includes('--help') ? 0 : 2;
  }
  const nameWords = cmd.name.split(' ').length;
  let rest = argv;
  for (let i = 0; i < nameWords; i++) rest = rest.slice(rest.findIndex((a) => !a.startsWith('-')) + 1);
  const config = loadConfig();
  return cmd.run(rest, config);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== -1) process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof ConfigError || err instanceof DataDirLockedError) console.error(`trellis: ${err.message}`);
    else console.error(err);
    process.exit(1);
  },
);
