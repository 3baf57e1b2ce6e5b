import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { onUnauthorized } from './api/client.js';
import { live } from './api/live.js';
import { getSession, logOut, type SessionInfo } from './api/session.js';
import { HelpOverlay } from './components/HelpOverlay.js';
import { ScopesContext, useKeys, useLiveStatus, useRoute } from './hooks.js';
import { KEY_Escape } from './logic/keys.js';
import type { ViewName } from './logic/routes.js';
import { LoginView } from './views/LoginView.js';
import { TopologyView } from './views/TopologyView.js';

// The topology is the landing view and ships in the main bundle; the others load on first use.
const StreamView = lazy(() => import('./views/StreamView.js').then((m) => ({ default: m.StreamView })));
const ChainView = lazy(() => import('./views/ChainView.js').then((m) => ({ default: m.ChainView })));
const DeadLettersView = lazy(() =>
  import('./views/DeadLettersView.js').then((m) => ({ default: m.DeadLettersView })),
);
const SchemasView = lazy(() => import('./views/SchemasView.js').then((m) => ({ default: m.SchemasView })));
const HealthView = lazy(() => import('./views/HealthView.js').then((m) => ({ default: m.HealthView })));

const NAV: { view: ViewName; label: string }[] = [
  { view: 'topology', label: 'Topology' },
  { view: 'stream', label: 'Live stream' },
  { view: 'chain', label: 'Event chain' },
  { view: 'dead-letters', label: 'Dead letters' },
  { view: 'schemas', label: 'Schemas' },
  { view: 'health', label: 'Health' },
];

type Theme = 'system' | 'light' | 'dark';

/** A server that cannot say (down, or older than logins): show everything; it still checks each call. */
const UNKNOWN_SESSION: SessionInfo = { auth: false, principal: null, scopes: ['publish', 'read', 'operate'] };

/** Who is logged in, asked again whenever a call comes back 401 (an expired or ended session). */
function useSession(): [SessionInfo | null, (s: SessionInfo) => void] {
  const [session, setSession] = useState<SessionInfo | null>(null);
  const asking = useRef(false);
  const refresh = useCallback(() => {
    if (asking.current) return;
    asking.current = true;
    getSession()
      .then(setSession, () => setSession((s) => s ?? UNKNOWN_SESSION))
      .finally(() => {
        asking.current = false;
      });
  }, []);
  useEffect(() => {
    refresh();
    return onUnauthorized(refresh);
  }, [refresh]);
  return [session, setSession];
}

function applyTheme(t: Theme): void {
  if (t === 'system') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
}

export function App() {
  const [route, navigate] = useRoute();
  const status = useLiveStatus();
  const [help, setHelp] = useState(false);
  const [session, setSession] = useSession();
  const needsLogin = session?.auth === true && session.principal === null;
  const canRead = session !== null && !needsLogin && session.scopes.includes('read');
  const scopes = useMemo(() => new Set(needsLogin ? [] : (session?.scopes ?? [])), [session, needsLogin]);
  const [theme, setTheme] = useState<Theme>(
    () => (localStorage.getItem('candybar.theme') as Theme | null) ?? 'system',
  );

  useEffect(() => {
    if (canRead) live.start();
    else live.stop();
  }, [canRead]);
  useEffect(() => {
    applyTheme(theme);
    localStorage.setItem('candybar.theme', theme);
  }, [theme]);
  useEffect(() => {
    document.title = `Candybar · ${NAV.find((n) => n.view === route.view)?.label ?? ''}`;
  }, [route.view]);

  const keys: Record<string, () => void> = {
    '?': () => setHelp((h) => !h),
    t: () => setTheme((t) => (t === 'system' ? 'light' : t === 'light' ? 'dark' : 'system')),
    [KEY_Escape]: () => setHelp(false),
  };
  NAV.forEach((n, i) => {
    keys[String(i + 1)] = () => navigate({ view: n.view, params: {} });
  });
  useKeys(keys);

  const logOutNow = async () => {
    await logOut().catch(() => undefined);
    setSession({ auth: true, principal: null, scopes: [] });
  };

  if (session === null) return <div className="empty">Loading…</div>;
  if (needsLogin) return <LoginView onLoggedIn={setSession} />;

  return (
    <div className="app">
      <header className="topbar">
        <div className="brand">
          <img src="./icon.svg" alt="" />
          Candybar
        </div>
        <nav className="nav">
          {NAV.map((n, i) => (
            <a
              key={n.view}
              href={`#/${n.view}`}
              className={route.view === n.view ? 'active' : ''}
              data-view={n.view}
            >
              {n.label}
              <kbd>{i + 1}</kbd>
            </a>
          ))}
        </nav>
        <span className="conn" title="Live stream from Candystore" data-testid="live-status">
          <span className={`dot ${status}`} /> {status === 'live' ? 'live' : status}
        </span>
        <button
          type="button"
          onClick={() => setTheme((t) => (t === 'system' ? 'light' : t === 'light' ? 'dark' : 'system'))}
          title="Theme (t)"
        >
          {theme === 'system' ? '◐ auto' : theme === 'light' ? '☀ light' : '☾ dark'}
        </button>
        <button type="button" onClick={() => setHelp(true)} title="Keyboard shortcuts (?)">
          ?
        </button>
        {session.auth && (
          <>
            <span
              className="who"
              data-testid="principal"
              title={`scopes: ${session.scopes.join(', ') || 'none'}`}
            >
              {session.principal}
            </span>
            <button type="button" onClick={() => void logOutNow()} data-testid="log-out">
              Log out
            </button>
          </>
        )}
      </header>
      <main className="main">
        {!canRead ? (
          <div className="empty" data-testid="no-read-scope">
            {session.principal} holds {session.scopes.join(', ') || 'no scope'}: the dashboard's views need
            the read scope.
          </div>
        ) : (
          <ScopesContext.Provider value={scopes}>
            <Suspense fallback={<div className="empty">Loading…</div>}>
              {route.view === 'topology' && <TopologyView route={route} navigate={navigate} />}
              {route.view === 'stream' && <StreamView route={route} navigate={navigate} />}
              {route.view === 'chain' && <ChainView route={route} navigate={navigate} />}
              {route.view === 'dead-letters' && <DeadLettersView route={route} navigate={navigate} />}
              {route.view === 'schemas' && <SchemasView route={route} navigate={navigate} />}
              {route.view === 'health' && <HealthView route={route} navigate={navigate} />}
            </Suspense>
          </ScopesContext.Provider>
        )}
      </main>
      {help && <HelpOverlay onClose={() => setHelp(false)} />}
    </div>
  );
}
