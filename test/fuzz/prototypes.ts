/**
 * Prototype pollution is a decoder bug that throws nothing: `metadata[__proto__][x]=1` answers 200 and
 * quietly changes every object in the process. Targets that build objects from input names run under
 * this guard: it compares the built-in prototypes before and after, puts them back (so one finding does
 * not poison the inputs after it) and reports what changed.
 */
const GUARDED: ReadonlyArray<readonly [string, object]> = [
  ["Object.prototype", Object.prototype],
  ["Array.prototype", Array.prototype],
  ["Function.prototype", Function.prototype],
  ["String.prototype", String.prototype],
  ["Number.prototype", Number.prototype],
  ["Boolean.prototype", Boolean.prototype],
];

type Snapshot = Map<object, Map<PropertyKey, PropertyDescriptor>>;

function snapshot(): Snapshot {
  const s: Snapshot = new Map();
  for (const [, proto] of GUARDED) {
    const props = new Map<PropertyKey, PropertyDescriptor>();
    for (const key of Reflect.ownKeys(proto)) props.set(key, Object.getOwnPropertyDescriptor(proto, key)!);
    s.set(proto, props);
  }
  return s;
}

const same = (a: PropertyDescriptor, b: PropertyDescriptor): boolean =>
  Object.is(a.value, b.value) && a.get === b.get && a.set === b.set && a.writable === b.writable && a.enumerable === b.enumerable && a.configurable === b.configurable;

/** Puts every guarded prototype back as `before` had it; returns what had changed ("Object.prototype.x added"). */
function restore(before: Snapshot): string[] {
  const changes: string[] = [];
  for (const [name, proto] of GUARDED) {
    const props = before.get(proto)!;
    for (const key of Reflect.ownKeys(proto)) {
      if (props.has(key)) continue;
      changes.push(`${name}.${String(key)} added`);
      Reflect.deleteProperty(proto, key);
    }
    for (const [key, d] of props) {
      const now = Object.getOwnPropertyDescriptor(proto, key);
      if (now !== undefined && same(now, d)) continue;
      changes.push(`${name}.${String(key)} ${now === undefined ? "deleted" : "changed"}`);
      Object.defineProperty(proto, key, d);
    }
    if (Object.getPrototypeOf(proto) !== (proto === Object.prototype ? null : Object.prototype)) {
      changes.push(`${name}'s prototype changed`);
      Object.setPrototypeOf(proto, proto === Object.prototype ? null : Object.prototype);
    }
  }
  return changes;
}

export class PrototypePollution extends Error {
  constructor(changes: string[]) {
    super(`built-in prototypes were changed: ${changes.join(", ")}`);
    this.name = "PrototypePollution";
  }
}

/** Runs `fn`; built-in prototypes it changed are restored and reported as a PrototypePollution. */
export async function guardPrototypes<R>(fn: () => R | Promise<R>): Promise<R> {
  const before = snapshot();
  let result: R;
  try {
    result = await fn();
  } finally {
    const changes = restore(before);
    // Thrown from finally on purpose: pollution outranks whatever error the polluted run produced.
    if (changes.length > 0) throw new PrototypePollution(changes);
  }
  return result;
}
