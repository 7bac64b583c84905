/**
 * A small reader of the Prometheus text format (what /metrics answers), for tests:
 * every sample by its name and labels, and the TYPE of every metric family.
 */
export interface PromText {
  /** The sample's value, or undefined when there is no such series. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** Every series of a metric (exact name), with its labels. */
  series(name: string): { labels: Record<string, string>; value: number }[];
  type(name: string): string | undefined;
}

const key = (name: string, labels: Record<string, string>): string =>
  `${name}{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',')}}`;

export function parseProm(text: string): PromText {
  const samples = new Map<string, number>();
  const byName = new Map<string, { labels: Record<string, string>; value: number }[]>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) types.set(t[1]!, t[2]!);
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    const value = Number(m[3]);
    samples.set(key(m[1]!, labels), value);
    const list = byName.get(m[1]!) ?? [];
    list.push({ labels, value });
    byName.set(m[1]!, list);
  }
  return {
    value: (name, labels = {}) => samples.get(key(name, labels)),
    series: (name) => byName.get(name) ?? [],
    type: (name) => types.get(name),
  };
}
