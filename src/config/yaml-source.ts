import { readFileSync } from 'node:fs';
import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';

/** One problem in a config or policy file, reported as `file:line:col: message`. */
export interface Problem {
  file: string;
  line: number;
  col: number;
  message: string;
}

export function formatProblem(p: Problem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.message}`;
}

/** Thrown when a file fails validation; carries every problem found, not just the first. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: Problem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
  }
}

/** A parsed YAML file that can map a value path back to its line and column. */
export class YamlSource {
  readonly doc: Document;
  private readonly lines = new LineCounter();

  constructor(readonly file: string, text: string) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
  }

  static read(file: string): YamlSource {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new ConfigError([{ file, line: 1, col: 1, message: `cannot read file: ${e.code ?? e.message}` }]);
    }
    return new YamlSource(file, text);
  }

  /** YAML syntax errors (tabs, bad indentation, duplicate keys) as problems. */
  syntaxProblems(): Problem[] {
    return this.doc.errors.map((e) => {
      const pos = this.lines.linePos(e.pos[0]);
      return { file: this.file, line: pos.line, col: pos.col, message: e.message.split('\n')[0] ?? e.message };
    });
  }

  /** Position of the value at `path`; falls back to the nearest ancestor that exists. */
  positionOf(path: readonly PropertyKey[], preferKey = false): { line: number; col: number } {
    for (let n = path.length; n >= 0; n--) {
      const sub = path.slice(0, n).map((k) => (typeof k === 'symbol' ? String(k) : k));
      const node = n === 0 ? this.doc.contents : this.doc.getIn(sub, true);
      if (preferKey && n === path.length && n > 0) {
        const key = this.keyNodeOf(sub);
        if (key?.range) return this.lines.linePos(key.range[0]);
      }
      if (isNode(node) && node.range) return this.lines.linePos(node.range[0]);
    }
    return { line: 1, col: 1 };
  }

  problemAt(path: readonly PropertyKey[], message: string, preferKey = false): Problem {
    return { file: this.file, ...this.positionOf(path, preferKey), message };
  }

  private keyNodeOf(path: (string | number)[]): { range?: [number, number, number] | null } | undefined {
    const parent = path.length === 1 ? this.doc.contents : this.doc.getIn(path.slice(0, -1), true);
    if (!parent || typeof parent !== 'object' || !('items' in parent)) return undefined;
    const last = path[path.length - 1];
    for (const item of (parent as { items: unknown[] }).items) {
      const key = (item as { key?: unknown }).key;
      if (isNode(key) && (key as unknown as { value?: unknown }).value === last) return key as { range?: [number, number, number] };
    }
    return undefined;
  }

  /**
   * Validate the document against a zod schema. Returns the parsed value or throws a
   * ConfigError listing every problem with its position.
   */
  validate<S extends z.ZodType>(schema: S): z.output<S> {
    const syntax = this.syntaxProblems();
    if (syntax.length) throw new ConfigError(syntax);
    const raw: unknown = this.doc.toJS() ?? {};
    const result = schema.safeParse(raw);
    if (result.success) return result.data;
    throw new ConfigError(this.issuesToProblems(result.error.issues));
  }

  issuesToProblems(issues: readonly z.core.$ZodIssue[]): Problem[] {
    const out: Problem[] = [];
    for (const issue of issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          out.push(this.problemAt([...issue.path, key], `unknown key "${key}"${where(issue.path)}`, true));
        }
        continue;
      }
      out.push(this.problemAt(issue.path, `${where(issue.path, true)}${issue.message}`));
    }
    return out.sort((a, b) => a.line - b.line || a.col - b.col);
  }
}

function where(path: readonly PropertyKey[], asPrefix = false): string {
  if (!path.length) return '';
  const dotted = path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
  return asPrefix ? `${dotted}: ` : ` in ${dotted}`;
}
