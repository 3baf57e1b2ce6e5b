/** JSON over the dashboard's own origin; problem+json answers become `ApiError`s. */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly problem: Record<string, unknown> | null,
  ) {
    super(message);
  }
}

const unauthorizedListeners = new Set<() => void>();

/** Called on every 401: the session may have expired, and the page may need to ask for a token. */
export function onUnauthorized(fn: () => void): () => void {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
}

export async function api<T>(path: string, init: RequestInit & { json?: unknown } = {}): Promise<T> {
  const { json, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (json !== undefined) headers.set('content-type', 'application/json');
  headers.set('accept', 'application/json, application/problem+json');
  let res: Response;
  try {
    res = await fetch(path, {
      ...rest,
      headers,
      body: json !== undefined ? JSON.stringify(json) : rest.body,
    });
  } catch {
    throw new ApiError(0, 'the dashboard server is not reachable', null);
  }
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (res.status === 401) for (const fn of unauthorizedListeners) fn();
  if (!res.ok) {
    const p = body && typeof body === 'object' ? (body as Record<string, unknown>) : null;
    const msg = p ? String(p.detail ?? p.title ?? res.statusText) : `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, msg, p);
  }
  return body as T;
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    const violations = Array.isArray(err.problem?.errors)
      ? (err.problem.errors as { pointer?: string; message?: string }[])
          .map((v) => `${v.pointer || '/'}: ${v.message}`)
          .join('; ')
      : '';
    return violations ? `${err.message} (${violations})` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
