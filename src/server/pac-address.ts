import type { ListenerView } from '../admin/proxy-view.js';

/**
 * The proxy address the admin listener's PAC file names (when pac.proxy is not set):
 * the first forward listener; if it is bound to every address, the host the client
 * reached the admin listener by, with the listener's port.
 */
export function pacProxyAddress(bound: readonly ListenerView[], adminHost: string): string {
  const l = bound[0];
  if (!l) return adminHost;
  const wildcard = l.address === '0.0.0.0' || l.address === '::';
  const host = wildcard ? adminHost.replace(/:\d+$/, '') || '127.0.0.1' : l.family === 'IPv6' ? `[${l.address}]` : l.address;
  return `${host}:${l.port}`;
}
