import type { ReactNode } from 'react';

/** A collapsible JSON inspector; objects deeper than `openDepth` start folded. */
export function JsonView({ value, openDepth = 3 }: { value: unknown; openDepth?: number }) {
  return <pre className="json">{render(value, 0, openDepth, '')}</pre>;
}

/** `suffix` (a comma between members) goes after the closing bracket, on its line. */
function render(v: unknown, depth: number, openDepth: number, suffix: string): ReactNode {
  if (v === null) return <span className="z">null{suffix}</span>;
  if (typeof v === 'string') return <span className="s">{`${JSON.stringify(v)}${suffix}`}</span>;
  if (typeof v === 'number') return <span className="n">{`${v}${suffix}`}</span>;
  if (typeof v === 'boolean') return <span className="b">{`${v}${suffix}`}</span>;
  if (Array.isArray(v)) {
    if (v.length === 0) return `[]${suffix}`;
    return (
      <details open={depth < openDepth}>
        <summary>
          <span className="open-mark">[</span>
          <span className="closed-mark">{`[${v.length} items]${suffix}`}</span>
        </summary>
        <div className="indent">
          {v.map((item, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: array positions are the identity here
            <div key={i}>{render(item, depth + 1, openDepth, i < v.length - 1 ? ',' : '')}</div>
          ))}
        </div>
        {`]${suffix}`}
      </details>
    );
  }
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 0) return `{}${suffix}`;
    return (
      <details open={depth < openDepth}>
        <summary>
          <span className="open-mark">{'{'}</span>
          <span className="closed-mark">{`{${entries.length} keys}${suffix}`}</span>
        </summary>
        <div className="indent">
          {entries.map(([k, item], i) => (
            <div key={k}>
              <span className="k">{JSON.stringify(k)}</span>:{' '}
              {render(item, depth + 1, openDepth, i < entries.length - 1 ? ',' : '')}
            </div>
          ))}
        </div>
        {`}${suffix}`}
      </details>
    );
  }
  return `${String(v)}${suffix}`;
}
