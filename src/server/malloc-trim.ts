import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * glibc's malloc_trim(0): hands the free pages of every malloc arena back to the
 * kernel. Node allocates each socket read's 64 KiB buffer with malloc. After a bulk
 * transfer, glibc keeps the freed memory of the tens of MiB that were in flight: RSS
 * stayed ~30 MB higher under the next load, and one call gave it back (125 -> 97 MB
 * under W1 after W2, docs/benchmarks.md, session 12).
 *
 * The call goes through koffi (an FFI with prebuilt binaries: no compiler at install).
 * It is loaded on the first trim, since a proxy without bulk traffic never needs it.
 * Where there is no glibc (musl, macOS) or koffi cannot load, there is no trim: `null`.
 */
export type Trim = () => void;

let loaded: Trim | null | undefined;

export function mallocTrim(): Trim | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (process.platform !== 'linux') return null;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as {
      load(path: string): { func(signature: string): (pad: number) => number };
    };
    const trim = koffi.load('libc.so.6').func('int malloc_trim(size_t)');
    loaded = () => void trim(0);
  } catch {
    // koffi missing (an optional dependency), or no glibc (musl has no libc.so.6, or one
    // without malloc_trim): the memory is only kept longer.
  }
  return loaded;
}

let gc: ((options: { type: 'minor' | 'major' }) => void) | undefined;

/**
 * A collection now. After a transfer ends the last tens of MiB of buffers are dead but
 * still allocated: V8 collects them only when something allocates again, and an idle
 * proxy does not. V8 offers scripts no collection but its `gc` extension; the flag is
 * set the first time one is needed.
 */
export function collect(type: 'minor' | 'major'): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as typeof gc;
  }
  gc!({ type });
}
