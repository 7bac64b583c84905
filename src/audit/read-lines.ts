import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { PassThrough } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/**
 * The lines of one log file (plain or gzip, told apart by its first two bytes, so a
 * rotated `access.log.1.gz` and `access.log.1` both work), or of standard input for
 * "-". Streamed: memory does not grow with the file. A read or gzip error (a truncated
 * archive) is thrown, never swallowed.
 */
export async function* readLogLines(file: string): AsyncGenerator<string> {
  const raw: Readable = file === '-' ? process.stdin : createReadStream(file);
  const chunks = raw[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await chunks.next();
  if (first.done) return;
  let source: AsyncIterable<Buffer> = prepend(first.value, chunks);
  if (first.value[0] === 0x1f && first.value[1] === 0x8b) {
    const out = new PassThrough();
    const done = pipeline(Readable.from(source), createGunzip(), out);
    done.catch((err: unknown) => out.destroy(err as Error));
    source = out;
  }
  // A multi-byte character may straddle two chunks.
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of source) {
    const text = rest + decoder.write(chunk as Buffer);
    const lines = text.split('\n');
    rest = lines.pop()!;
    for (const l of lines) yield l;
  }
  rest += decoder.end();
  if (rest) yield rest;
}

async function* prepend(head: Buffer, tail: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  yield head;
  for (;;) {
    const n = await tail.next();
    if (n.done) return;
    yield n.value;
  }
}
