import bcrypt from 'bcryptjs';
import { parentPort } from 'node:worker_threads';

/**
 * Worker thread that compares passwords with bcrypt hashes (password-check.ts), so a
 * flood of logins does not take the proxy's event loop: one check at cost 10 is about
 * 70 ms of CPU in bcryptjs.
 */
export type BcryptRequest = { id: number; password: string; hash: string };
export type BcryptReply = { id: number; ok: true; match: boolean } | { id: number; ok: false; message: string };

if (parentPort) {
  const port = parentPort;
  port.on('message', (m: BcryptRequest) => {
    let reply: BcryptReply;
    try {
      reply = { id: m.id, ok: true, match: bcrypt.compareSync(m.password, m.hash) };
    } catch (err) {
      reply = { id: m.id, ok: false, message: (err as Error).message };
    }
    port.postMessage(reply);
  });
}
