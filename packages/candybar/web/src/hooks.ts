import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useRef,
  useState,
  useSyncExternalStore,
} from 'react';
import { api, errorText } from './api/client.js';
import { type LiveStatus, live } from './api/live.js';
import type { Scope } from './api/session.js';
import type { Registry } from './logic/registry.js';
import { formatRoute, parseRoute, type Route } from './logic/routes.js';

function subscribeHash(cb: () => void): () => void {
  window.addEventListener('hashchange', cb);
  return () => window.removeEventListener('hashchange', cb);
}

/** The current route from the URL hash, and a way to change it (replace for typing, push for navigation). */
export function useRoute(): [Route, (r: Route, replace?: boolean) => void] {
  const hash = useSyncExternalStore(subscribeHash, () => window.location.hash);
  const route = parseRoute(hash);
  const navigate = useCallback((r: Route, replace = false) => {
    const next = formatRoute(r);
    if (next === window.location.hash) return;
    if (replace) {
      history.replaceState(null, '', next);
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    } else {
      window.location.hash = next;
    }
  }, []);
  return [route, navigate];
}

/** The caller's scopes: every one when the dashboard needs no login. */
export const ScopesContext = createContext<ReadonlySet<Scope>>(new Set(['publish', 'read', 'operate']));

/** May the caller do this? Controls it may not use are not shown (the servers refuse them anyway). */
export function useCan(scope: Scope): boolean {
  return useContext(ScopesContext).has(scope);
}

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/** Fetches JSON when `path` changes (null skips), optionally polling. */
export function useApi<T>(path: string | null, pollMs?: number): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: string | null; loading: boolean }>({
    data: null,
    error: null,
    loading: path !== null,
  });
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  // biome-ignore lint/correctness/useExhaustiveDependencies: tick forces a reload
  useEffect(() => {
    if (path === null) {
      setState({ data: null, error: null, loading: false });
      return;
    }
    let cancelled = false;
    setState((s) => ({ ...s, loading: true }));
    api<T>(path)
      .then((data) => !cancelled && setState({ data, error: null, loading: false }))
      .catch(
        (err) => !cancelled && setState((s) => ({ data: s.data, error: errorText(err), loading: false })),
      );
    return () => {
      cancelled = true;
    };
  }, [path, tick]);
  useEffect(() => {
    if (!pollMs || path === null) return;
    const t = setInterval(reload, pollMs);
    return () => clearInterval(t);
  }, [pollMs, path, reload]);
  return { ...state, reload };
}

let registryPromise: Promise<Registry> | null = null;

/** The registry, fetched once per page (it changes only when the file does). */
export function useRegistry(): { registry: Registry | null; error: string | null } {
  const [state, setState] = useState<{ registry: Registry | null; error: string | null }>({
    registry: null,
    error: null,
  });
  useEffect(() => {
    registryPromise ??= api<Registry>('/api/registry');
    registryPromise
      .then((registry) => setState({ registry, error: null }))
      .catch((err) => {
        registryPromise = null;
        setState({ registry: null, error: errorText(err) });
      });
  }, []);
  return state;
}

export function useLiveStatus(): LiveStatus {
  const [s, setS] = useState<LiveStatus>(live.status);
  useEffect(() => live.onStatus(setS), []);
  return s;
}

/** Re-renders every `ms` (for rates and clocks). */
export function useTick(ms: number): number {
  const [n, setN] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setN((x) => x + 1), ms);
    return () => clearInterval(t);
  }, [ms]);
  return n;
}

/** Calls the latest `fn` without re-subscribing when it changes. */
export function useLatest<T>(value: T): { current: T } {
  const ref = useRef(value);
  ref.current = value;
  return ref;
}

export function useToast(): [string | null, (msg: string) => void] {
  const [msg, setMsg] = useState<string | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const show = useCallback((m: string) => {
    setMsg(m);
    if (timer.current) clearTimeout(timer.current);
    timer.current = setTimeout(() => setMsg(null), 3000);
  }, []);
  return [msg, show];
}

/** Shortcut keys for a view; ignored while typing in a field (except Escape). */
export function useKeys(map: Record<string, (e: KeyboardEvent) => void>): void {
  const latest = useLatest(map);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const t = e.target as HTMLElement | null;
      const typing =
        t &&
        (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
      if (typing && e.key !== 'Escape') return;
      const fn = latest.current[e.key];
      if (fn) {
        e.preventDefault();
        fn(e);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [latest]);
}
