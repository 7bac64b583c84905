import type { Server } from 'node:http';

/**
 * Wait, up to `deadline` (epoch ms), until nothing is `busy`. Keep-alive connections
 * close as soon as they are idle, which is when their request has ended: a client does
 * not get to start another on a proxy that is going away. True when it went quiet in
 * time.
 */
export async function drainUntil(servers: readonly Server[], busy: () => number, deadline: number): Promise<boolean> {
  for (const s of servers) s.closeIdleConnections();
  while (busy() > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    for (const s of servers) s.closeIdleConnections();
  }
  return busy() === 0;
}
