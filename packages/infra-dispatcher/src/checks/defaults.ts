import type { ComponentCheckSpec } from '../config.js';

/**
 * The component check table of the Infrastructure GOD document. Each `cwd` is the
 * component's checkout relative to the checks root (by default the folder that holds
 * this repository), so a workspace laid out as `33GOD/<component>` works unchanged.
 */
export const DEFAULT_COMPONENT_CHECKS: Readonly<Record<string, ComponentCheckSpec>> = {
  bloodbank: { command: 'pytest tests/test_infra_dispatcher.py', cwd: 'bloodbank' },
  candystore: { command: 'pytest', cwd: 'candystore' },
  candybar: { command: 'bun run lint && bun run build', cwd: 'candybar' },
  holyfields: { command: 'mise run test:all', cwd: 'holyfields' },
  pjangler: { command: 'bun run build', cwd: 'pjangler' },
};
