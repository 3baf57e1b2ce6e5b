/**
 * Tells a second Ctrl-C from one stop request delivered twice. A process manager that
 * signals the whole process group (systemd's default `KillMode=control-group`, coreutils
 * `timeout`, `kill -TERM -<pgid>`) reaches this process directly and again through
 * `npm start`, which passes SIGTERM on to it; the two copies arrive milliseconds apart, and
 * counting them as two used to skip the clean shutdown. Signals within `burstMs` of the
 * first one are that same request; a signal after it is a second interrupt.
 */
export function interruptHandler(
  onFirst: () => void,
  onSecond: () => void,
  burstMs = 1000,
  now: () => number = () => performance.now(),
): () => void {
  let first: number | null = null;
  return () => {
    const t = now();
    if (first === null) {
      first = t;
      onFirst();
    } else if (t - first > burstMs) {
      onSecond();
    }
  };
}
