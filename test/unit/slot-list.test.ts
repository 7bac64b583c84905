import { describe, expect, it } from 'vitest';
import { SLOT, SlotList, type Slotted } from '../../src/util/slot-list.js';

interface Item extends Slotted {
  name: string;
}
const item = (name: string): Item => ({ name });
const names = (l: SlotList<Item>): string[] => [...l].map((i) => i.name).sort();

describe('SlotList', () => {
  it('adds, finds and deletes members in any order', () => {
    const l = new SlotList<Item>();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(item) as [Item, Item, Item, Item];
    for (const i of [a, b, c, d]) l.add(i);
    expect(l.size).toBe(4);
    expect(l.delete(b)).toBe(true);
    expect(l.has(b)).toBe(false);
    expect(l.has(d)).toBe(true);
    expect(names(l)).toEqual(['a', 'c', 'd']);
    expect(l.delete(a)).toBe(true);
    expect(l.delete(d)).toBe(true);
    expect(names(l)).toEqual(['c']);
    expect(l.size).toBe(1);
  });

  it('ignores a second add and a delete of a non-member', () => {
    const l = new SlotList<Item>();
    const a = item('a');
    l.add(a);
    l.add(a);
    expect(l.size).toBe(1);
    expect(l.delete(item('x'))).toBe(false);
    expect(l.delete(a)).toBe(true);
    expect(l.delete(a)).toBe(false);
    expect(a[SLOT]).toBe(-1);
  });

  it('a member of one list is not a member of another', () => {
    const one = new SlotList<Item>();
    const two = new SlotList<Item>();
    const a = item('a');
    one.add(a);
    expect(two.has(a)).toBe(false);
    expect(two.delete(a)).toBe(false);
    expect(one.size).toBe(1);
  });

  it('visits every member once while the loop deletes them', () => {
    const l = new SlotList<Item>();
    const all = Array.from({ length: 50 }, (_, i) => item(`m${i}`));
    for (const i of all) l.add(i);
    const seen: string[] = [];
    for (const i of l) {
      seen.push(i.name);
      if (Number(i.name.slice(1)) % 3 !== 0) l.delete(i);
    }
    expect(seen.sort()).toEqual(all.map((i) => i.name).sort());
    expect(names(l)).toEqual(all.filter((_, i) => i % 3 === 0).map((i) => i.name).sort());
  });

  it('holds no reference to a deleted member', () => {
    const l = new SlotList<Item>();
    const a = item('a');
    const b = item('b');
    l.add(a);
    l.add(b);
    l.delete(a);
    l.delete(b);
    expect([...l]).toEqual([]);
    expect((l as unknown as { items: Item[] }).items).toEqual([]);
  });
});
