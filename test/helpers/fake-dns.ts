import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';

/** What the fake name server does with a query for one name. */
export type DnsBehaviour = { answer: string; delayMs?: number } | 'servfail' | 'silent';

export interface FakeDns {
  /** "127.0.0.1:PORT", for egress.dns.servers. */
  server: string;
  /** Queries received, by name (every attempt counts). */
  queries: string[];
  close(): Promise<void>;
}

/**
 * A UDP DNS server on 127.0.0.1:0 (RFC 1035 §4.1 wire format, one question per query).
 * `behave(name)` picks the outcome: an A record (AAAA queries get an empty NOERROR answer),
 * optionally after a delay, SERVFAIL (RCODE 2), or no answer at all.
 */
export async function startFakeDns(behave: (name: string) => DnsBehaviour): Promise<FakeDns> {
  const sock: Socket = createSocket('udp4');
  const queries: string[] = [];
  sock.on('message', (msg: Buffer, from: RemoteInfo) => {
    const q = parseQuestion(msg);
    if (!q) return;
    queries.push(q.name);
    const b = behave(q.name);
    if (b === 'silent') return;
    const send = (): void => sock.send(reply(msg, q, b), from.port, from.address);
    if (typeof b === 'object' && b.delayMs) setTimeout(send, b.delayMs);
    else send();
  });
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  return {
    server: `127.0.0.1:${sock.address().port}`,
    queries,
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}

interface Question {
  name: string;
  type: number;
  /** Offset just past the question (QTYPE and QCLASS included). */
  end: number;
}

function parseQuestion(msg: Buffer): Question | null {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return null;
  const labels: string[] = [];
  let i = 12;
  while (i < msg.length && msg[i] !== 0) {
    const len = msg[i]!;
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('latin1'));
    i += 1 + len;
  }
  if (i + 5 > msg.length) return null;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(i + 1), end: i + 5 };
}

function reply(msg: Buffer, q: Question, b: { answer: string } | 'servfail'): Buffer {
  const rcode = b === 'servfail' ? 2 : 0;
  const withA = b !== 'servfail' && q.type === 1;
  const head = Buffer.alloc(12);
  msg.copy(head, 0, 0, 2); // ID
  head.writeUInt16BE(0x8180 | rcode, 2); // QR, RD, RA + RCODE
  head.writeUInt16BE(1, 4); // QDCOUNT
  head.writeUInt16BE(withA ? 1 : 0, 6); // ANCOUNT
  const question = msg.subarray(12, q.end);
  if (!withA) return Buffer.concat([head, question]);
  const rr = Buffer.alloc(16);
  rr.writeUInt16BE(0xc00c, 0); // name: pointer to the question's
  rr.writeUInt16BE(1, 2); // TYPE A
  rr.writeUInt16BE(1, 4); // CLASS IN
  rr.writeUInt32BE(60, 6); // TTL
  rr.writeUInt16BE(4, 10);
  b.answer.split('.').forEach((o, k) => rr.writeUInt8(Number(o), 12 + k));
  return Buffer.concat([head, question, rr]);
}
