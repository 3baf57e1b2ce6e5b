import { parseArgs } from 'node:util';
import { defaultRegistryPath, readEnv, SERVICES_REGISTRY } from '@33god/core';
import { loadServiceRegistry } from '@33god/holyfields';
import { resolvePushSubscriptions } from '../push/config.js';
import { startPushService } from '../push/service.js';
import { defaultLogger } from '../sdk/logger.js';
import { resolveTopologyOptions } from '../topology/options.js';
import { type CliIo, cliTransport, EXIT, guarded, stdio } from './command.js';
import { signalled } from './serve.js';

export const USAGE = `usage: bloodbank push [--registry FILE] [--amqp-url URL] [--service ID]... [--check]

Runs the registry's push subscriptions alone (the gateway runs them too unless
BLOODBANK_PUSH=false): each service with a \`push:\` entry has its queue POSTed to its URL
as signed CloudEvents, with the SDK's retries and dead letters (docs/push.md). Runs until
SIGINT or SIGTERM, then lets the running deliveries finish.

  --registry  default: SERVICES_REGISTRY, else services/registry.yaml
  --amqp-url  default: AMQP_URL (required: an embedded broker cannot be reached from another process)
  --service   only this service's subscription (repeatable)
  --check     check the configuration (URLs, secrets named by secret_env) and exit`;

export async function run(
  argv: string[],
  io: CliIo & { interrupted?: Promise<void> } = stdio,
): Promise<number> {
  return guarded(io, USAGE, async () => {
    const { values } = parseArgs({
      args: argv,
      options: {
        registry: { type: 'string' },
        'amqp-url': { type: 'string' },
        service: { type: 'string', multiple: true },
        check: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      io.out(USAGE);
      return EXIT.ok;
    }
    const topology = resolveTopologyOptions({}, io.env);
    const registryPath = values.registry ?? readEnv(SERVICES_REGISTRY, io.env) ?? defaultRegistryPath();
    const registry = await loadServiceRegistry(registryPath);
    // Checked before connecting: a mistake names its registry path at once.
    const subscriptions = resolvePushSubscriptions(registry, io.env, {
      skipStatuses: topology.skipStatuses,
      ...(values.service ? { only: values.service } : {}),
    });
    if (values.check || subscriptions.length === 0) {
      io.out(
        subscriptions.length === 0
          ? `${registryPath} has no push subscriptions`
          : `${subscriptions.length} push subscription(s) configured correctly: ${subscriptions.map((s) => s.service).join(', ')}`,
      );
      return EXIT.ok;
    }
    const transport = await cliTransport(values['amqp-url'], io, 'bloodbank push');
    try {
      const service = await startPushService({
        transport,
        registry,
        subscriptions,
        topology,
        logger: defaultLogger(),
        env: io.env,
      });
      for (const s of service.status())
        io.out(
          `push ${s.service}: queue ${s.queue} → ${s.url} (${s.state}${s.signed ? ', signed' : ', unsigned'})`,
        );
      await (io.interrupted ?? signalled());
      io.out('bloodbank push stopping: finishing running deliveries');
      await service.stop();
      return EXIT.ok;
    } finally {
      await transport.close();
    }
  });
}
