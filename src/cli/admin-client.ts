/**
 * How the CLI reaches a running egressd's admin API (`egressd cache`, `egressd status`):
 * the base URL and token from --admin/--token, else from the config's admin.listen
 * and admin.token (or $EGRESSD_ADMIN_TOKEN), then one JSON request.
 */
export interface AdminTarget {
  base: string;
  token: string | undefined;
}

export interface AdminOptions {
  config?: string;
  admin?: string;
  token?: string;
}

/** The options every admin-API command takes, for parseArgs and the help texts. */
export const ADMIN_OPTIONS = {
  config: { type: 'string', short: 'c' },
  admin: { type: 'string' },
  token: { type: 'string' },
} as const;

export const ADMIN_OPTIONS_HELP = `  -c, --config FILE  config file whose admin.listen and admin.token are used
                     (default: the shipped policies/egressd.yaml)
      --admin URL    the admin API base URL instead, e.g. http://127.0.0.1:3129
      --token TOKEN  bearer token (default: admin.token, or $EGRESSD_ADMIN_TOKEN)`;

/**
 * Where the admin API is, or a usage problem (a string: exit 2), or null when the
 * config had problems (already printed as file:line:col: message; exit 2).
 */
export async function resolveAdmin(o: AdminOptions): Promise<AdminTarget | string | null> {
  const token = o.token ?? process.env.EGRESSD_ADMIN_TOKEN;
  if (o.admin !== undefined) return { base: o.admin, token };
  const [{ loadConfig }, { ConfigError, formatProblem }] = await Promise.all([import('../config/load.js'), import('../config/yaml-source.js')]);
  try {
    const { config } = loadConfig(o.config);
    const l = config.admin.listen;
    if (!l || l.port === 0) return 'the config has no admin listener with a fixed port (admin.listen); pass --admin URL';
    const host = l.address === '0.0.0.0' ? '127.0.0.1' : l.address === '::' ? '[::1]' : l.address.includes(':') ? `[${l.address.replace(/^\[|\]$/g, '')}]` : l.address;
    return { base: `http://${host}:${l.port}`, token: token ?? (config.admin.token || undefined) };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
    return null;
  }
}

export type AdminReply = { ok: true; text: string } | { ok: false; message: string };

/**
 * One request to the admin API. A non-200 answer becomes its message and code
 * ("… [CODE]"); an unreachable API becomes "cannot reach the admin API at …".
 */
export async function adminRequest(t: AdminTarget, path: string, body?: Record<string, string>): Promise<AdminReply> {
  const { request } = await import('undici');
  const headers: Record<string, string> = { accept: 'application/json' };
  if (t.token) headers.authorization = `Bearer ${t.token}`;
  if (body) headers['content-type'] = 'application/json';
  try {
    const res = await request(new URL(path, t.base), {
      method: body ? 'POST' : 'GET',
      headers,
      body: body ? JSON.stringify(body) : undefined,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const text = await res.body.text();
    if (res.statusCode === 200) return { ok: true, text };
    let message = text.trim();
    try {
      const j = JSON.parse(text) as { error?: string; message?: string };
      message = `${j.message ?? text.trim()} [${j.error ?? res.statusCode}]`;
    } catch {
      // not JSON: print as it came
    }
    return { ok: false, message: `${res.statusCode}: ${message}` };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return { ok: false, message: `cannot reach the admin API at ${t.base}: ${e.code ?? e.message}` };
  }
}
