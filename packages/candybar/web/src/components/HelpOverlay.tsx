export const SHORTCUTS: { keys: string[]; what: string; where: string }[] = [
  { keys: ['1'], what: 'Topology', where: 'everywhere' },
  { keys: ['2'], what: 'Live stream', where: 'everywhere' },
  { keys: ['3'], what: 'Event chain', where: 'everywhere' },
  { keys: ['4'], what: 'Dead letters', where: 'everywhere' },
  { keys: ['5'], what: 'Schemas', where: 'everywhere' },
  { keys: ['6'], what: 'Health', where: 'everywhere' },
  { keys: ['t'], what: 'Cycle theme: system, light, dark', where: 'everywhere' },
  { keys: ['?'], what: 'This help', where: 'everywhere' },
  { keys: ['/'], what: 'Focus the filter or search box', where: 'stream, schemas, chain' },
  { keys: ['Esc'], what: 'Close the inspector, dialog or help; leave a field', where: 'everywhere' },
  { keys: ['Space', 'p'], what: 'Pause or resume the live stream', where: 'stream' },
  { keys: ['j', 'k'], what: 'Next / previous row', where: 'stream, chain, dead letters' },
  { keys: ['Enter'], what: 'Open the selected event’s chain', where: 'stream' },
  { keys: ['c'], what: 'Copy the selected event as curl', where: 'stream' },
  { keys: ['x'], what: 'Clear the live list', where: 'stream' },
  { keys: ['r'], what: 'Redrive the selected dead letters', where: 'dead letters' },
  { keys: ['f'], what: 'Fit / actual size', where: 'topology' },
];

export function HelpOverlay({ onClose }: { onClose: () => void }) {
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: a click on the backdrop closes; Escape does the same from the keyboard
    <div className="overlay" role="presentation" onClick={onClose}>
      <div
        className="dialog"
        role="dialog"
        aria-modal="true"
        aria-label="Keyboard shortcuts"
        onClick={(e) => e.stopPropagation()}
        onKeyDown={(e) => e.stopPropagation()}
      >
        <h2>Keyboard shortcuts</h2>
        <table className="grid shortcuts">
          <tbody>
            {SHORTCUTS.map((s) => (
              <tr key={s.what}>
                <td>
                  {s.keys.map((k, i) => (
                    <span key={k}>
                      {i > 0 ? ' / ' : ''}
                      <kbd>{k}</kbd>
                    </span>
                  ))}
                </td>
                <td>{s.what}</td>
                <td className="muted small">{s.where}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <p className="muted small">
          Every view and filter is in the address bar: copy the URL to share what you see.
        </p>
        <div className="actions">
          <button type="button" onClick={onClose}>
            Close
          </button>
        </div>
      </div>
    </div>
  );
}
