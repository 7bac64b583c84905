/**
 * The streaming write: the relay hands every chunk it sends to the client to the
 * writer too. The body is stored only when the whole transfer completed; a body that
 * grows past the per-object limit is dropped at once (the rest streams through
 * unbuffered), and an aborted transfer is never stored.
 */
export class CacheWriter {
  private chunks: Buffer[] = [];
  private size = 0;
  private dead = false;

  constructor(
    private readonly limit: number,
    private readonly store: (body: Buffer) => void,
  ) {}

  get alive(): boolean {
    return !this.dead;
  }

  write(chunk: Buffer): void {
    if (this.dead) return;
    this.size += chunk.length;
    if (this.size > this.limit) {
      this.abort();
      return;
    }
    this.chunks.push(chunk);
  }

  /** The transfer completed: store it. Returns whether it was stored. */
  commit(): boolean {
    if (this.dead) return false;
    this.dead = true;
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    this.store(body);
    return true;
  }

  abort(): void {
    this.dead = true;
    this.chunks = [];
  }
}
