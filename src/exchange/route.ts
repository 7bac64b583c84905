import type { Readable } from 'node:stream';
import type { RoutedRequest } from '../upstream/router.js';
import type { Exchange } from './request-checks.js';

/** What the upstream router needs to send this exchange on its way (direct or via a parent group). */
export function routedRequest(x: Exchange, body: Readable | null, upgrade?: string): RoutedRequest {
  const { ctx, res } = x;
  const t = ctx.target!;
  return {
    scheme: t.scheme,
    host: t.host,
    port: t.port,
    path: t.path,
    method: x.req.method!,
    headers: x.headers,
    body,
    ...(upgrade ? { upgrade } : {}),
    route: ctx.decision?.route,
    key: { host: t.host, client: ctx.clientIp, user: ctx.user },
    setUpstream: (label) => {
      ctx.upstream = label || null;
    },
    alive: () => !res.destroyed,
  };
}
