import { formatError } from '@33god/core';
import type { CliCommand, CliIo } from './cli/command.js';
import { stdio } from './cli/command.js';

/**
 * The `bloodbank` command. Each entry loads its module only when run, so a quick
 * `bloodbank dlq list` does not load the HTTP gateway. To add a command, add one
 * line: its name, a one-line summary and the import of a module exporting
 * `run(argv, io?) => Promise<number>` (the exit code).
 */
export const COMMANDS: Record<string, { summary: string; load: () => Promise<CliCommand> }> = {
  topology: {
    summary: 'declare the broker topology from the registry (apply) or report drift (check)',
    load: () => import('./cli/topology.js'),
  },
  dlq: {
    summary: 'list, show, redrive or purge dead letters',
    load: () => import('./cli/dlq.js'),
  },
  serve: {
    summary: 'run the HTTP gateway (publish API, webhooks, /health, /metrics, /docs)',
    load: () => import('./cli/serve.js'),
  },
  push: {
    summary: 'run the registry push subscriptions (signed CloudEvents POSTed to HTTP endpoints)',
    load: () => import('./cli/push.js'),
  },
  publish: {
    summary: 'publish one event through the gateway or straight to the broker',
    load: () => import('./cli/publish.js'),
  },
  tail: {
    summary: 'print live events matching a topic pattern',
    load: () => import('./cli/tail.js'),
  },
  health: {
    summary: 'check the health of every part (gateway, store, dashboard, dispatcher)',
    load: () => import('./cli/health.js'),
  },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = [
    'usage: bloodbank <command> [options]   (bloodbank <command> --help for its options)',
    '',
    'commands:',
  ];
  for (const [name, c] of Object.entries(COMMANDS).sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`  ${name.padEnd(width)}  ${c.summary}`);
  }
  return lines.join('\n');
}

export async function main(argv: string[], io: CliIo = stdio): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`error: unknown command '${name}'`);
    io.err(usage());
    return 2;
  }
  try {
    return await (await command.load()).run(rest, io);
  } catch (err) {
    io.err(formatError(err));
    return 1;
  }
}
