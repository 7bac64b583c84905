import { loadConfig } from '../config/load.js';
import { ConfigError, formatProblem } from '../config/yaml-source.js';
import { AuthFileError, FileUserStore } from '../auth/index.js';
import type { Config } from '../config/schema.js';
import { loadPolicy, routeProblems } from '../policy/index.js';
import { checkQuotaRefs } from '../server/policy-files.js';

/** Validate the config, every policy file and the users/groups files it names, reporting all problems at once. */
export async function checkConfigCommand(file: string | undefined): Promise<number> {
  const problems = [];
  let abs: string | undefined;
  let policyFiles: readonly string[] = [];
  let groups: string[] | undefined;
  let profiles: Readonly<Record<string, unknown>> | undefined;
  let auth: Config['auth'] | undefined;
  try {
    const loaded = loadConfig(file);
    abs = loaded.file;
    policyFiles = loaded.config.policy.files;
    groups = Object.keys(loaded.config.upstream.groups);
    profiles = loaded.config.quota.profiles;
    auth = loaded.config.auth;
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
  if (auth?.users || auth?.groupsFile) {
    // The same loader the proxy uses: bcrypt hashes only, file:line for each problem.
    try {
      new FileUserStore({ usersFile: auth.users ?? null, groupsFile: auth.groupsFile ?? null, groups: auth.groups });
    } catch (err) {
      if (!(err instanceof AuthFileError)) throw err;
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
