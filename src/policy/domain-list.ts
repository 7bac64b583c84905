import { readFile } from 'node:fs/promises';
import type { Problem } from '../config/yaml-source.js';
import { DomainSet, HASH_P, normaliseDomainEntry } from './domain-set.js';

/** Invalid lines reported per list file; past this one summary line says how many more. */
const MAX_LINE_PROBLEMS = 20;
/** Lines parsed between yields to the event loop, so a reload does not stall traffic. */
const LINES_PER_SLICE = 200_000;

export interface DomainListResult {
  set: DomainSet;
  /** Invalid lines, as file:line:col problems in the list file. */
  problems: Problem[];
  /** Set when the file could not be read (errno code); the caller says where it was named. */
  readError?: string;
}

/**
 * Read a domain list file: one domain per line, `#` starts a comment (whole line or
 * trailing), blank lines ignored. Each entry matches itself and its subdomains.
 * Asynchronous and sliced, so a hot reload of a large list does not freeze the proxy.
 */
export async function loadDomainList(file: string, into = new DomainSet()): Promise<DomainListResult> {
  let text: string;
  try {
    // Buffer#toString gives one flat string; readFile(file, 'utf8') on a large file can
    // give a rope of chunks, on which every charCodeAt takes V8's slow path (3x slower).
    text = (await readFile(file)).toString('utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { set: into, problems: [], readError: e.code ?? e.message };
  }
  const parser = new DomainListParser(file, text, into);
  while (!parser.done) {
    parser.parse(LINES_PER_SLICE);
    if (!parser.done) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return { set: into, problems: parser.problems() };
}

/** Synchronous variant for text already in memory (tests, inline lists). */
export function parseDomainList(file: string, text: string, into = new DomainSet()): DomainListResult {
  const parser = new DomainListParser(file, text, into);
  parser.parse(Infinity);
  return { set: into, problems: parser.problems() };
}

/**
 * Resumable line parser. Scans with indexOf instead of split() (no million-element
 * array), and a line that is already a clean lowercase name is validated and hashed
 * in one pass and stored as a slice of the file text, with no string created.
 */
class DomainListParser {
  private pos = 0;
  private line = 0;
  private invalid = 0;
  private readonly found: Problem[] = [];
  private readonly source: number;

  constructor(
    private readonly file: string,
    private readonly text: string,
    private readonly set: DomainSet,
  ) {
    // A UTF-8 byte order mark would otherwise make the first entry invalid.
    if (text.charCodeAt(0) === 0xfeff) this.pos = 1;
    this.source = set.addSource(text);
    set.reserve(set.size + countLines(text));
  }

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  parse(maxLines: number): void {
    const { text } = this;
    for (let n = 0; n < maxLines && this.pos < text.length; n++) {
      let end = text.indexOf('\n', this.pos);
      if (end < 0) end = text.length;
      this.line++;
      if (end > this.pos && !this.cleanEntry(this.pos, end)) this.slowEntry(this.pos, end);
      this.pos = end + 1;
    }
  }

  /**
   * Fast path: `[a-z0-9_-]` labels separated by single dots, no label starting or
   * ending with "-", at most 253 characters (RFC 1035 §2.3.4). Right to left, so the
   * hash matches DomainSet's. Returns false for anything else (the slow path decides).
   */
  private cleanEntry(start: number, end: number): boolean {
    const { text } = this;
    if (end - start > 253) return false;
    let h = 0;
    let pow = 1;
    let label = 0;
    for (let i = end - 1; i >= start; i--) {
      const c = text.charCodeAt(i);
      if (c === 46) {
        if (label === 0 || text.charCodeAt(i + 1) === 45) return false;
        label = 0;
      } else if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || c === 45) {
        if (c === 45 && label === 0) return false; // label ends with "-"
        if (++label > 63) return false;
      } else return false;
      h = (h + Math.imul(c, pow)) | 0;
      pow = Math.imul(pow, HASH_P);
    }
    if (label === 0 || text.charCodeAt(start) === 45) return false;
    this.set.addSlice(this.source, start, end, h);
    return true;
  }

  /** Comments, blanks, CRLF, case, IDN, "*." prefixes, IP literals, or an invalid line. */
  private slowEntry(start: number, end: number): void {
    let raw = this.text.slice(start, end);
    const hash = raw.indexOf('#');
    if (hash >= 0) raw = raw.slice(0, hash);
    const trimmed = raw.trim();
    if (trimmed === '') return;
    const name = normaliseDomainEntry(trimmed);
    if (name !== undefined) {
      this.set.add(name);
      return;
    }
    this.invalid++;
    if (this.found.length < MAX_LINE_PROBLEMS) {
      const col = raw.indexOf(trimmed) + 1;
      this.found.push({ file: this.file, line: this.line, col, message: `invalid domain "${trimmed}"` });
    }
  }

  problems(): Problem[] {
    const more = this.invalid - this.found.length;
    if (more <= 0) return this.found;
    const last = this.found[this.found.length - 1]!;
    return [...this.found, { ...last, message: `... and ${more} more invalid lines` }];
  }
}

function countLines(text: string): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
