import { loadConfig } from '../config/load.js';
import { ConfigError, formatProblem } from '../config/yaml-source.js';

export function checkConfigCommand(file: string | undefined): number {
  try {
    const { file: abs } = loadConfig(file);
    process.stdout.write(`ok: ${abs}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
    return 1;
  }
}
