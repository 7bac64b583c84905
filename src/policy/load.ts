import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError, YamlSource, type Problem } from '../config/yaml-source.js';
import { compileCollecting, type Policy, type PolicySource } from './compile.js';
import { loadDomainList, type DomainListResult } from './domain-list.js';
import { DomainSet } from './domain-set.js';
import { policyFileSchema, type PolicyDocument } from './schema.js';

export interface PolicyText {
  /** File name; relative list paths resolve against its folder. */
  file: string;
  text: string;
}

/** A loaded policy also knows the list files it read, so a watcher can watch them too. */
export interface LoadedPolicy extends Policy {
  readonly listFiles: readonly string[];
}

/**
 * Read, validate and compile policy files in the given order (rules concatenate; the
 * last file ends with the default rule). Every file is checked even after one fails,
 * and the ConfigError lists every problem as file:line:col. Nothing is half-applied:
 * the caller swaps in the result only when this resolves.
 */
export async function loadPolicy(paths: readonly string[]): Promise<LoadedPolicy> {
  const problems: Problem[] = [];
  const texts: PolicyText[] = [];
  for (const p of paths) {
    const file = resolve(p);
    try {
      texts.push({ file, text: await readFile(file, 'utf8') });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      problems.push({ file, line: 1, col: 1, message: `cannot read policy file: ${e.code ?? e.message}` });
    }
  }
  return loadPolicyFromText(texts, problems);
}

/** As {@link loadPolicy}, for texts already in memory (tests, `policy test` on stdin). */
export async function loadPolicyFromText(texts: readonly PolicyText[], problems: Problem[] = []): Promise<LoadedPolicy> {
  if (texts.length === 0 && problems.length === 0) {
    throw new ConfigError([{ file: '(policy)', line: 1, col: 1, message: 'no policy files given: at least one is needed, ending with the default rule' }]);
  }
  let complete = problems.length === 0;
  // One load per list file, even when several policy files declare it.
  const listLoads = new Map<string, Promise<DomainListResult>>();
  const parsed: { src: YamlSource; doc: PolicyDocument; lists: Promise<Map<string, DomainSet>> }[] = [];

  for (const { file, text } of texts) {
    const src = new YamlSource(file, text);
    let doc: PolicyDocument;
    try {
      doc = src.validate(policyFileSchema);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
      complete = false;
      continue;
    }
    parsed.push({ src, doc, lists: loadLists(src, doc, listLoads, problems) });
  }

  const sources: PolicySource[] = [];
  for (const p of parsed) {
    sources.push({ file: p.src.file, document: p.doc, lists: await p.lists, locate: (path) => p.src.positionOf(path) });
  }
  const policy = compileCollecting(sources, problems, complete);
  if (problems.length) throw new ConfigError(sortProblems(problems, texts.map((t) => t.file)));
  return Object.freeze({ ...policy, listFiles: [...listLoads.keys()] });
}

async function loadLists(
  src: YamlSource,
  doc: PolicyDocument,
  loads: Map<string, Promise<DomainListResult>>,
  problems: Problem[],
): Promise<Map<string, DomainSet>> {
  const out = new Map<string, DomainSet>();
  for (const [name, spec] of Object.entries(doc.lists ?? {})) {
    if (spec.domains) {
      const set = new DomainSet();
      for (const d of spec.domains) set.add(d);
      out.set(name, set);
      continue;
    }
    const abs = resolve(dirname(src.file), spec.file!);
    let load = loads.get(abs);
    const first = load === undefined;
    if (!load) loads.set(abs, (load = loadDomainList(abs)));
    const result = await load;
    if (result.readError) {
      problems.push(src.problemAt(['lists', name, 'file'], `cannot read domain list ${abs}: ${result.readError}`));
    } else if (first) {
      problems.push(...result.problems);
    }
    out.set(name, result.set);
  }
  return out;
}

/** Group by file: policy files in load order, then list files; then by position. */
function sortProblems(problems: Problem[], order: readonly string[]): Problem[] {
  const rank = new Map<string, number>(order.map((f, i) => [f, i]));
  for (const p of problems) if (!rank.has(p.file)) rank.set(p.file, rank.size);
  return [...problems].sort((a, b) => rank.get(a.file)! - rank.get(b.file)! || a.line - b.line || a.col - b.col);
}
