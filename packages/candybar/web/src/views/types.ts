import type { Route } from '../logic/routes.js';

export interface ViewProps {
  route: Route;
  navigate: (r: Route, replace?: boolean) => void;
}
