import { ProxyAgent, request } from 'undici';

/** One request of a steady load, as the client saw it. */
export interface LoadResult {
  ok: boolean;
  status: number;
  /** The Via the response carried (which config generation relayed it). */
  via: string;
  /** X-Egressd-Request-Id, when the proxy sent one; the origin may echo ours in the body. */
  body: string;
  error?: string;
  /** Date.now() when the request was sent and when it ended. */
  sentAt: number;
  endedAt: number;
}

export interface SteadyLoad {
  results: LoadResult[];
  failures(): LoadResult[];
  /** Stop issuing requests; resolves when every client's last request ended. */
  stop(): Promise<void>;
}

/**
 * `clients` keep-alive clients, each sending GET `url()` back to back until stopped:
 * plain forwarding (proxyTunnel false) or through a CONNECT tunnel per connection. A
 * request counts as ok when it got a 200 and its whole body.
 */
export function steadyLoad(proxyUrl: string, opts: { clients: number; tunnel?: boolean; url: (n: number) => string; maxMs?: number }): SteadyLoad {
  const agent = new ProxyAgent({ uri: proxyUrl, proxyTunnel: opts.tunnel ?? false, connections: opts.clients });
  const results: LoadResult[] = [];
  let stopped = false;
  let closing: Promise<void> | undefined;
  let n = 0;
  const deadline = Date.now() + (opts.maxMs ?? 20_000);
  const loops = Array.from({ length: opts.clients }, async () => {
    while (!stopped && Date.now() < deadline) {
      const sentAt = Date.now();
      try {
        const res = await request(opts.url(++n), { dispatcher: agent, headersTimeout: 5000, bodyTimeout: 5000 });
        const body = await res.body.text();
        results.push({ ok: res.statusCode === 200, status: res.statusCode, via: String(res.headers.via ?? ''), body, sentAt, endedAt: Date.now() });
      } catch (err) {
        results.push({ ok: false, status: 0, via: '', body: '', error: String(err), sentAt, endedAt: Date.now() });
      }
    }
  });
  return {
    results,
    failures: () => results.filter((r) => !r.ok),
    stop() {
      stopped = true;
      closing ??= Promise.all(loops).then(() => agent.close());
      return closing;
    },
  };
}
