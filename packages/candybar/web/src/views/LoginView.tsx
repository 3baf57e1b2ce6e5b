import { type FormEvent, useEffect, useRef, useState } from 'react';
import { ApiError, errorText } from '../api/client.js';
import { logIn, type SessionInfo } from '../api/session.js';

/** Asks for a token once; the server keeps it and gives the browser a session cookie instead. */
export function LoginView({ onLoggedIn }: { onLoggedIn: (s: SessionInfo) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onLoggedIn(await logIn(token.trim()));
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'That token is not valid.' : errorText(err));
      setBusy(false);
    }
  };

  return (
    <div className="login" data-testid="login">
      <form className="card form" onSubmit={(e) => void submit(e)}>
        <div className="brand">
          <img src="./icon.svg" alt="" />
          Candybar
        </div>
        <label className="field">
          <span>Token</span>
          <input
            ref={input}
            type="password"
            name="token"
            autoComplete="current-password"
            value={token}
            onChange={(e) => setToken(e.target.value)}
          />
          <span className="hint">
            One of the dashboard's AUTH_TOKENS. What you may do follows its scopes: read, operate, publish.
          </span>
        </label>
        {error && (
          <span className="err" data-testid="login-error">
            {error}
          </span>
        )}
        <button type="submit" className="primary" disabled={busy || token.trim() === ''} data-testid="log-in">
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
    </div>
  );
}
