import { readFileSync } from 'node:fs';

/**
 * The package version, read once from package.json (two levels up from both src/admin/
 * and dist/admin/). Shown by `--version`, /api/status and egressd_build_info.
 */
export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
