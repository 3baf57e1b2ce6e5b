// Child process of bench/e2e.ts: the all-in-one stack (`33god up`) in embedded mode, alone in
// its process so its RSS is its own. Configured by the environment the bench gives it (no
// AMQP_URL/DATABASE_URL: embedded broker and PGlite in STACK_DATA_DIR). Prints one JSON line
// with the parts' URLs once up; stops on SIGTERM.
import { startStack } from '@33god/all-in-one';

// Exit with the bench: its end of our stdin closes when it goes, however it goes.
process.stdin.on('end', () => process.exit(1)).resume();

const stack = await startStack({
  env: process.env,
  ports: { gateway: 0, store: 0, dashboard: 0, dispatcher: 0 },
  host: '127.0.0.1',
});
console.log(
  `@@STACK ${JSON.stringify({
    mode: stack.mode,
    gateway: stack.gateway.url,
    store: stack.store.url,
    dashboard: stack.dashboard.url,
    dispatcher: stack.dispatcher?.url ?? null,
  })}`,
);
process.once('SIGTERM', () => {
  stack.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
