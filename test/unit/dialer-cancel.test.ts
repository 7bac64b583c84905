import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AddressGuard } from '../../src/upstream/address-guard.js';
import { CancelOnClose, Dialer, SelfEndpoints, type DialCancel } from '../../src/upstream/dialer.js';
import { DnsCache } from '../../src/upstream/dns-cache.js';
import { startEcho, type TcpServer } from '../helpers/err-net.js';

/**
 * A dial is called off when its client leaves (tunnel/connect.ts passes the client
 * socket's close as the cancel): before it starts, nothing is opened; while it
 * connects, the half-open connection is closed and the dial fails.
 */

let echo: TcpServer;
let dialer: Dialer;

beforeAll(async () => {
  echo = await startEcho();
  const dns = new DnsCache({ minTtl: 1000, maxTtl: 60_000, negativeTtl: 1000, timeout: 1000, cacheSize: 10, family: 'ipv4first', hostsFile: '/dev/null' });
  dialer = new Dialer(dns, new AddressGuard(['127.0.0.1/32']), new SelfEndpoints(), 2000);
});
afterAll(() => echo.close());

async function clientSocket(): Promise<Socket> {
  const s = connect(echo.port, '127.0.0.1');
  await once(s, 'connect');
  return s;
}

describe('Dialer cancel', () => {
  it('a client socket already closed: the dial fails at once and opens no connection', async () => {
    const before = echo.accepted.length;
    const client = await clientSocket();
    client.destroy();
    await expect(dialer.dial('127.0.0.1', echo.port, new CancelOnClose(client), true)).rejects.toMatchObject({ code: 'UPSTREAM_RESET' });
    // Only the client socket itself reached the echo server.
    await new Promise((r) => setTimeout(r, 50));
    expect(echo.accepted.length - before).toBe(1);
  });

  it('cancelled while connecting: the dial fails and its connection is closed', async () => {
    let fire: (() => void) | null = null;
    const cancel: DialCancel = {
      aborted: false,
      // Fire before the connect can complete (a tick is earlier than any I/O).
      addEventListener: (_t, l) => {
        fire = l;
        process.nextTick(() => fire?.());
      },
      removeEventListener: () => {
        fire = null;
      },
    };
    await expect(dialer.dial('127.0.0.1', echo.port, cancel, true)).rejects.toMatchObject({ code: 'UPSTREAM_RESET', message: 'client went away while connecting' });
    expect(fire).toBeNull(); // the listener was removed
    await expect.poll(() => echo.accepted.filter((a) => !a.destroyed).length, { timeout: 2000 }).toBe(0);
  });

  it('not cancelled: the listener is removed once connected', async () => {
    const client = await clientSocket();
    const before = client.listenerCount('close');
    const d = await dialer.dial('127.0.0.1', echo.port, new CancelOnClose(client), true);
    expect(client.listenerCount('close')).toBe(before);
    d.socket.destroy();
    client.destroy();
  });
});
