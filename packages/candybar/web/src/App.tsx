import { lazy, Suspense, useEffect, useState } from 'react';
import { live } from './api/live.js';
import { HelpOverlay } from './components/HelpOverlay.js';
import { useKeys, useLiveStatus, useRoute } from './hooks.js';
import { KEY_Escape } from './logic/keys.js';
import type { ViewName } from './logic/routes.js';
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

function applyTheme(t: Theme): void {
  if (t === 'system') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
}

export function App() {
  const [route, navigate] = useRoute();
  const status = useLiveStatus();
  const [help, setHelp] = useState(false);
  const [theme, setTheme] = useState<Theme>(
    () => (localStorage.getItem('candybar.theme') as Theme | null) ?? 'system',
  );

  useEffect(() => {
    live.start();
  }, []);
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
      </header>
      <main className="main">
        <Suspense fallback={<div className="empty">Loading…</div>}>
          {route.view === 'topology' && <TopologyView route={route} navigate={navigate} />}
          {route.view === 'stream' && <StreamView route={route} navigate={navigate} />}
          {route.view === 'chain' && <ChainView route={route} navigate={navigate} />}
          {route.view === 'dead-letters' && <DeadLettersView route={route} navigate={navigate} />}
          {route.view === 'schemas' && <SchemasView route={route} navigate={navigate} />}
          {route.view === 'health' && <HealthView route={route} navigate={navigate} />}
        </Suspense>
      </main>
      {help && <HelpOverlay onClose={() => setHelp(false)} />}
    </div>
  );
}
