// Runs `infra-dispatcher <args>` from the sources (what bin/infra-dispatcher.mjs runs from dist).
import { main } from '@33god/infra-dispatcher';

process.exitCode = await main(process.argv.slice(2));
