import { loadConfig } from '../config/load.js';
import { ConfigError, formatProblem } from '../config/yaml-source.js';
import { loadPolicy } from '../policy/index.js';

/** Validate the config and every policy file it names, reporting all problems at once. */
export async function checkConfigCommand(file: string | undefined): Promise<number> {
  const problems = [];
  let abs: string | undefined;
  let policyFiles: readonly string[] = [];
  try {
    const loaded = loadConfig(file);
    abs = loaded.file;
    policyFiles = loaded.config.policy.files;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  if (policyFiles.length) {
    try {
      await loadPolicy(policyFiles);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
    }
  }
  if (problems.length) {
    for (const p of problems) process.stderr.write(`${formatProblem(p)}\n`);
    return 1;
  }
  const extra = policyFiles.length ? ` (policy: ${policyFiles.join(', ')})` : '';
  process.stdout.write(`ok: ${abs}${extra}\n`);
  return 0;
}
