import { loadConfig } from '../config/load.js';
import { ConfigError, formatProblem } from '../config/yaml-source.js';
import { loadPolicy, routeProblems } from '../policy/index.js';
import { checkQuotaRefs } from '../server/policy-files.js';

/** Validate the config and every policy file it names, reporting all problems at once. */
export async function checkConfigCommand(file: string | undefined): Promise<number> {
  const problems = [];
  let abs: string | undefined;
  let policyFiles: readonly string[] = [];
  let groups: string[] | undefined;
  let profiles: Readonly<Record<string, unknown>> | undefined;
  try {
    const loaded = loadConfig(file);
    abs = loaded.file;
    policyFiles = loaded.config.policy.files;
    groups = Object.keys(loaded.config.upstream.groups);
    profiles = loaded.config.quota.profiles;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  if (policyFiles.length) {
    try {
      const policy = await loadPolicy(policyFiles);
      if (groups) problems.push(...routeProblems(policy, groups));
      if (profiles) checkQuotaRefs(policy, profiles);
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
