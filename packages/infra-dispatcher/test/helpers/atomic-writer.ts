// Child process for the crash test: rewrites a large file atomically in a loop until killed.
import { writeFileAtomic } from '@33god/infra-dispatcher';

const path = process.argv[2];
if (!path) throw new Error('usage: atomic-writer <path>');
const filler = 'y'.repeat(4 * 1024 * 1024);
process.stdout.write('writing\n');
for (let generation = 1; ; generation++) {
  await writeFileAtomic(path, JSON.stringify({ generation, filler }));
}
