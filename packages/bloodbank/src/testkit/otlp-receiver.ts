import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One span as an OTLP/HTTP JSON export carries it, with its resource's `service.name`. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  /** OTLP's enum: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  service: string;
  attributes: Record<string, unknown>;
}

interface OtlpAttribute {
  key: string;
  value: Record<string, unknown>;
}

interface OtlpExport {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: {
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind: number;
        attributes?: OtlpAttribute[];
      }[];
    }[];
  }[];
}

/**
 * A local OTLP/HTTP receiver for tests: collects the JSON exports POSTed to `/v1/traces`.
 * `requests` records method, path and content type of every request, JSON or not.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly requests: string[] = [];
  #server: Server | null = null;
  #url = '';

  /** The base URL, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  get url(): string {
    return this.#url;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests.push(`${req.method} ${req.url} ${req.headers['content-type'] ?? ''}`);
        try {
          this.#collect(JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport);
        } catch {
          // not JSON: `requests` shows what came
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.#url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  /** The spans of one trace. */
  trace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  #collect(doc: OtlpExport): void {
    for (const rs of doc.resourceSpans ?? []) {
      const name = rs.resource?.attributes?.find((a) => a.key === 'service.name');
      const service = typeof name?.value.stringValue === 'string' ? name.value.stringValue : '';
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          const attributes: Record<string, unknown> = {};
          for (const a of s.attributes ?? []) attributes[a.key] = Object.values(a.value)[0];
          this.spans.push({
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId || undefined,
            name: s.name,
            kind: s.kind,
            service,
            attributes,
          });
        }
      }
    }
  }

  close(): Promise<void> {
    const server = this.#server;
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}
