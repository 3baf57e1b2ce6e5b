import { api } from './client.js';

export type Scope = 'publish' | 'read' | 'operate';

/** `GET /api/session`: whether the dashboard needs a login, who is logged in, what they may do. */
export interface SessionInfo {
  auth: boolean;
  principal: string | null;
  scopes: Scope[];
}

export const getSession = () => api<SessionInfo>('/api/session');

export const logIn = (token: string) => api<SessionInfo>('/api/session', { method: 'POST', json: { token } });

export const logOut = () => api<null>('/api/session', { method: 'DELETE' });
