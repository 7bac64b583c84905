import type { Readable } from 'node:stream';

/** A line longer than this is passed on in pieces rather than held without bound. */
const MAX_PARTIAL = 1024 * 1024;

/**
 * Copy a worker's stdout or stderr to the primary's, whole lines only. Each worker has
 * its own pipe, so its bytes arrive in order; the primary writes only complete lines
 * (one write per chunk received, cut after its last newline), so lines of different
 * workers never interleave mid-line, whatever stdout is (a pipe, where writes above
 * PIPE_BUF are not atomic, a terminal or journald).
 */
export function relayLines(from: Readable, to: { write(chunk: Buffer): unknown }): void {
  let partial: Buffer | null = null;
  from.on('data', (chunk: Buffer) => {
    const data: Buffer = partial ? Buffer.concat([partial, chunk]) : chunk;
    const end = data.lastIndexOf(10);
    if (end < 0) {
      if (data.length > MAX_PARTIAL) {
        to.write(data);
        partial = null;
      } else partial = data;
      return;
    }
    to.write(end === data.length - 1 ? data : data.subarray(0, end + 1));
    partial = end === data.length - 1 ? null : Buffer.from(data.subarray(end + 1));
  });
  // A worker that died mid-line: its last bytes still go out, ended by a newline.
  from.on('end', () => {
    if (partial?.length) to.write(Buffer.concat([partial, Buffer.from('\n')]));
    partial = null;
  });
  from.on('error', () => {});
}
