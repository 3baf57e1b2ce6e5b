import type { ReactNode } from 'react';

/** A collapsible JSON inspector; objects deeper than `openDepth` start folded. */
export function JsonView({ value, openDepth = 3 }: { value: unknown; openDepth?: number }) {
  return <pre className="json">{render(value, 0, openDepth)}</pre>;
}

function render(v: unknown, depth: number, openDepth: number): ReactNode {
  if (v === null) return <span className="z">null</span>;
  if (typeof v === 'string') return <span className="s">{JSON.stringify(v)}</span>;
  if (typeof v === 'number') return <span className="n">{String(v)}</span>;
  if (typeof v === 'boolean') return <span className="b">{String(v)}</span>;
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    return (
      <details open={depth < openDepth}>
        <summary>
          <span className="open-mark">[</span>
          <span className="closed-mark">[{v.length} items]</span>
        </summary>
        <div className="indent">
          {v.map((item, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: array positions are the identity here
            <div key={i}>
              {render(item, depth + 1, openDepth)}
              {i < v.length - 1 ? ',' : ''}
            </div>
          ))}
        </div>
        ]
      </details>
    );
  }
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 0) return '{}';
    return (
      <details open={depth < openDepth}>
        <summary>
          <span className="open-mark">{'{'}</span>
          <span className="closed-mark">{`{${entries.length} keys}`}</span>
        </summary>
        <div className="indent">
          {entries.map(([k, item], i) => (
            <div key={k}>
              <span className="k">{JSON.stringify(k)}</span>: {render(item, depth + 1, openDepth)}
              {i < entries.length - 1 ? ',' : ''}
            </div>
          ))}
        </div>
        {'}'}
      </details>
    );
  }
  return String(v);
}
