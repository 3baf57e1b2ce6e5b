import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { defaultRegistryPath, readEnv, SERVICES_REGISTRY } from '@33god/core';
import { loadServiceRegistry } from '@33god/holyfields';
import { applyTopology, checkTopology, formatTopologyReport } from '../topology/apply.js';
import { rabbitMqDefinitions } from '../topology/definitions.js';
import { resolveTopologyOptions, type TopologyOptions } from '../topology/options.js';
import { planTopology } from '../topology/plan.js';
import { type CliIo, cliTransport, EXIT, guarded, stdio, UsageError } from './command.js';

export const USAGE = `usage: bloodbank topology apply [--registry FILE] [--amqp-url URL] [--exchange NAME] [--dlx NAME] [--queue-type classic|quorum]
       bloodbank topology check [--registry FILE] [--amqp-url URL] [--exchange NAME] [--dlx NAME] [--json]
       bloodbank topology export [--registry FILE] [--exchange NAME] [--dlx NAME] [--queue-type classic|quorum] [--out FILE]

  apply  declares the exchanges, every service queue of the registry with its
         dead-letter and retry queues, and their bindings (idempotent)
  check  compares the broker with the registry; exit 1 when something is missing
  export writes what apply would declare as a RabbitMQ definitions file (JSON), for
         definitions.local.path or rabbitmqctl import_definitions; needs no broker

  --registry  default: SERVICES_REGISTRY, else services/registry.yaml
  --amqp-url  default: AMQP_URL (required: an embedded broker cannot be reached from another process)`;

export async function run(argv: string[], io: CliIo = stdio): Promise<number> {
  return guarded(io, USAGE, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        registry: { type: 'string' },
        'amqp-url': { type: 'string' },
        exchange: { type: 'string' },
        dlx: { type: 'string' },
        'queue-type': { type: 'string' },
        json: { type: 'boolean' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const [action, ...rest] = positionals;
    if (values.help) {
      io.out(USAGE);
      return EXIT.ok;
    }
    if ((action !== 'apply' && action !== 'check' && action !== 'export') || rest.length > 0) {
      throw new UsageError(
        action ? `unknown topology action '${[action, ...rest].join(' ')}'` : 'apply, check or export?',
      );
    }
    const options: TopologyOptions = {};
    if (values.exchange) options.exchange = values.exchange;
    if (values.dlx) options.dlx = values.dlx;
    if (values['queue-type']) {
      if (values['queue-type'] !== 'classic' && values['queue-type'] !== 'quorum') {
        throw new UsageError(`--queue-type must be classic or quorum, got '${values['queue-type']}'`);
      }
      options.queueType = values['queue-type'];
    }
    // The topology's environment variables come from the io (tests pass their own).
    const resolved = resolveTopologyOptions(options, io.env);
    const registryPath = values.registry ?? readEnv(SERVICES_REGISTRY, io.env) ?? defaultRegistryPath();
    const registry = await loadServiceRegistry(registryPath);
    if (action === 'export') {
      const json = `${JSON.stringify(rabbitMqDefinitions(planTopology(registry, resolved)), null, 2)}\n`;
      if (values.out) {
        await writeFile(values.out, json);
        io.out(`wrote ${values.out} from ${registryPath} (${resolved.queueType} queues)`);
      } else io.out(json.trimEnd());
      return EXIT.ok;
    }
    const transport = await cliTransport(values['amqp-url'], io, `bloodbank topology ${action}`);
    try {
      if (action === 'apply') {
        const { plan, options: o } = await applyTopology(transport, registry, resolved);
        io.out(
          `applied ${registryPath}: ${plan.exchanges.length} exchanges, ${plan.queues.length} queues, ${plan.bindings.length} bindings (exchange ${o.exchange}, dead letters ${o.dlx}, ${o.queueType} queues)`,
        );
        return EXIT.ok;
      }
      const report = await checkTopology(transport, registry, resolved);
      io.out(values.json ? JSON.stringify(report, null, 2) : formatTopologyReport(report));
      return report.ok ? EXIT.ok : EXIT.failed;
    } finally {
      await transport.close();
    }
  });
}
