/** Key names for shortcut maps (as `[KEY_Escape]: …`, so a map entry never looks like a component). */
export const KEY_Escape = 'Escape';
export const KEY_Enter = 'Enter';
