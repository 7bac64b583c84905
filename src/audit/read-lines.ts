import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { PassThrough } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/**
 * Longest line kept, in characters: far above any access-log line (a request line is
 * at most limits.maxHeaderSize, 64 KiB by default).
 */
export const MAX_LINE = 1024 * 1024;

/**
 * The lines of one log file (plain or gzip, told apart by its first two bytes, so a
 * rotated `access.log.1.gz` and `access.log.1` both work), or of standard input for
 * "-". Streamed: memory does not grow with the file, nor with a line (see MAX_LINE), so
 * a decompression bomb costs time, not memory. A read or gzip error (a truncated
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
  // Inside a line longer than MAX_LINE: drop text until its newline.
  let skipping = false;
  for await (const chunk of source) {
    let text = decoder.write(chunk as Buffer);
    if (skipping) {
      const nl = text.indexOf('\n');
      if (nl < 0) continue;
      skipping = false;
      text = text.slice(nl + 1);
    }
    const lines = (rest + text).split('\n');
    rest = lines.pop()!;
    for (const l of lines) yield l;
    if (rest.length > MAX_LINE) {
      // A gzip bomb (or a corrupt file) may be one endless "line": never hold more than
      // MAX_LINE of it. It is reported as one line that is not an access-log line.
      yield '';
      skipping = true;
      rest = '';
    }
  }
  rest += decoder.end();
  if (rest && !skipping) yield rest;
}

async function* prepend(head: Buffer, tail: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  yield head;
  for (;;) {
    const n = await tail.next();
    if (n.done) return;
    yield n.value;
  }
}
