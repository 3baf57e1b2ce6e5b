// Part of `npm run generate`: deploy/rabbitmq/definitions.json is what `bloodbank topology
// apply` declares for services/registry.yaml with the default names and quorum queues (the
// clustered deployment). packages/bloodbank/test/topology/definitions.test.ts regenerates it
// and fails on any difference.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { planTopology, rabbitMqDefinitions, resolveTopologyOptions } from '@33god/bloodbank';
import { projectRoot } from '@33god/core';
import { loadServiceRegistry } from '@33god/holyfields';

export const DEPLOY_DEFINITIONS = join(projectRoot(), 'deploy', 'rabbitmq', 'definitions.json');

export async function deployDefinitionsJson(): Promise<string> {
  const registry = await loadServiceRegistry(join(projectRoot(), 'services', 'registry.yaml'));
  // An empty environment: the file must not depend on who generated it.
  const options = resolveTopologyOptions({ queueType: 'quorum' }, {});
  return `${JSON.stringify(rabbitMqDefinitions(planTopology(registry, options)), null, 2)}\n`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await writeFile(DEPLOY_DEFINITIONS, await deployDefinitionsJson());
  console.log(`wrote ${DEPLOY_DEFINITIONS}`);
}
