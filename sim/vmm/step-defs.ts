// The VMM steps' definitions (issue 13), without the machine: the MSRs and flags they name, the expressions their
// values may be ("=..."), the Step type, and which era lacks which ioctl. The scenario schema (sim/scenario.ts)
// validates steps with these; sim/vmm/steps.ts runs them. docs/vmm-steps.md documents them.
import type { Rules } from '../kvm/eras.js';

// ---- expressions ----------------------------------------------------------------------------------------------

/** A value a step reads: a 64-bit integer, or a struct (KVM_GET_CLOCK's kvm_clock_data, a pvclock page). */
export type StepValue = bigint | Record<string, bigint>;

export type Node =
  | { k: 'num'; v: bigint }
  | { k: 'name'; path: string[] }
  | { k: 'call'; fn: string; args: Node[] }
  | { k: 'un'; op: string; a: Node }
  | { k: 'bin'; op: string; a: Node; b: Node }
  | { k: 'if'; c: Node; a: Node; b: Node };

/** Constants an expression may name (include/uapi/linux/kvm.h, arch/x86/include/asm/pvclock-abi.h). */
export const CONSTANTS: Record<string, bigint> = {
  KVM_CLOCK_TSC_STABLE: 2n, KVM_CLOCK_REALTIME: 4n, KVM_CLOCK_HOST_TSC: 8n, PVCLOCK_TSC_STABLE_BIT: 1n, PVCLOCK_GUEST_STOPPED: 2n,
};
/** Names the machine answers at the instant of the step (docs/vmm-steps.md, "Expressions"). */
export const BUILTINS = ['running', 'vcpus', 'wall_ns', 'host_tsc', 'vm_wide_tsc_khz', 'era_vm_tsc_khz', 'era_tsc_offset_attr', 'qemu_pre_2_9'] as const;
const FUNCTIONS: Record<string, number> = { cycles: 2, ns: 2, u64: 1, s64: 1, pvclock: 2 };

/** Parses "=expr" (the leading = already removed); throws an Error saying where it fails. */
export function parseExpr(src: string): Node {
  const re = /\s*(0x[0-9a-fA-F]+|\d+|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*|&&|\|\||==|!=|<=|>=|[-+*/%&|<>!?:(),])/y;
  const ts: string[] = [];
  for (let pos = 0; pos < src.length && src.slice(pos).trim();) {
    re.lastIndex = pos;
    const mm = re.exec(src);
    if (!mm) throw new Error(`cannot read the expression at "${src.slice(pos).trim().slice(0, 20)}"`);
    ts.push(mm[1]);
    pos = re.lastIndex;
  }
  let i = 0;
  const peek = () => ts[i];
  const eat = (t?: string) => {
    const x = ts[i];
    if (t !== undefined && x !== t) throw new Error(`expected "${t}" ${x === undefined ? 'at the end' : `before "${x}"`}`);
    i++;
    return x;
  };
  const LEVELS = [['||'], ['&&'], ['==', '!=', '<', '<=', '>', '>='], ['|'], ['&'], ['+', '-'], ['*', '/', '%']];
  const bin = (lvl: number): Node => {
    if (lvl === LEVELS.length) return unary();
    let a = bin(lvl + 1);
    while (peek() !== undefined && LEVELS[lvl].includes(peek()!)) { const op = eat(); a = { k: 'bin', op, a, b: bin(lvl + 1) }; }
    return a;
  };
  const unary = (): Node => {
    if (peek() === '-' || peek() === '!') { const op = eat(); return { k: 'un', op, a: unary() }; }
    return primary();
  };
  const primary = (): Node => {
    const t = eat();
    if (t === undefined) throw new Error('the expression ends too early');
    if (t === '(') { const e = expr(); eat(')'); return e; }
    if (/^(0x[0-9a-fA-F]+|\d+)$/.test(t)) return { k: 'num', v: BigInt(t) };
    if (/^[A-Za-z_]/.test(t)) {
      if (peek() === '(') {
        if (!(t in FUNCTIONS)) throw new Error(`no function "${t}" (${Object.keys(FUNCTIONS).join(', ')})`);
        eat('(');
        const args: Node[] = [];
        if (peek() !== ')') { args.push(expr()); while (peek() === ',') { eat(); args.push(expr()); } }
        eat(')');
        if (args.length !== FUNCTIONS[t]) throw new Error(`${t}() takes ${FUNCTIONS[t]} argument(s)`);
        return { k: 'call', fn: t, args };
      }
      return { k: 'name', path: t.split('.') };
    }
    throw new Error(`unexpected "${t}"`);
  };
  const expr = (): Node => {
    const c = bin(0);
    if (peek() !== '?') return c;
    eat('?');
    const a = expr();
    eat(':');
    return { k: 'if', c, a, b: expr() };
  };
  const e = expr();
  if (i < ts.length) throw new Error(`unexpected "${ts[i]}"`);
  return e;
}

/** The value names an expression reads (not constants, not builtins). */
export function exprNames(n: Node, out = new Set<string>()): Set<string> {
  if (n.k === 'name') { if (!(n.path[0] in CONSTANTS) && !(BUILTINS as readonly string[]).includes(n.path[0])) out.add(n.path[0]); }
  else if (n.k === 'call') n.args.forEach((a) => exprNames(a, out));
  else if (n.k === 'un') exprNames(n.a, out);
  else if (n.k === 'bin') { exprNames(n.a, out); exprNames(n.b, out); }
  else if (n.k === 'if') { exprNames(n.c, out); exprNames(n.a, out); exprNames(n.b, out); }
  return out;
}

/** A step's numeric field as written: an integer, a string of digits, or "=expression". */
export type RawValue = number | string;

/** The expression of a value field, or null for a literal. Throws on a malformed one. */
export function valueExpr(v: RawValue): Node | null {
  if (typeof v === 'number') return null;
  if (v.startsWith('=')) return parseExpr(v.slice(1));
  if (!/^-?\d+$/.test(v)) throw new Error(`${JSON.stringify(v)} is neither an integer nor an expression ("=...")`);
  return null;
}

// ---- the steps --------------------------------------------------------------------------------------------------

export const MSRS = {
  IA32_TSC: 0x10, IA32_TSC_ADJUST: 0x3b, MSR_KVM_SYSTEM_TIME: 0x12, MSR_KVM_WALL_CLOCK: 0x11,
  MSR_KVM_SYSTEM_TIME_NEW: 0x4b564d01, MSR_KVM_WALL_CLOCK_NEW: 0x4b564d00, IA32_TSC_DEADLINE: 0x6e0,
} as const;
export type MsrName = keyof typeof MSRS;
export const CLOCK_FLAGS = { KVM_CLOCK_TSC_STABLE: 2, KVM_CLOCK_REALTIME: 4, KVM_CLOCK_HOST_TSC: 8 } as const;

/** One step as the scenario schema gives it (sim/scenario.ts validates the fields). */
export type Step = { if?: string; optional?: boolean } & (
  | { do: 'KVM_CREATE_VM'; host: string }
  | { do: 'KVM_CREATE_VCPU'; pcpu?: number }
  | { do: 'KVM_SET_TSC_KHZ'; vcpu?: number; khz: RawValue }
  | { do: 'KVM_GET_TSC_KHZ'; vcpu?: number; as?: string }
  | { do: 'KVM_SET_MSRS'; vcpu: number; msr: MsrName; value: RawValue }
  | { do: 'KVM_GET_MSRS'; vcpu: number; msr: MsrName; as?: string }
  | { do: 'KVM_GET_CLOCK'; as?: string }
  | { do: 'KVM_SET_CLOCK'; clock: RawValue; flags?: RawValue | (keyof typeof CLOCK_FLAGS)[]; realtime?: RawValue; host_tsc?: RawValue }
  | { do: 'KVM_GET_DEVICE_ATTR'; vcpu: number; attr: 'KVM_VCPU_TSC_OFFSET'; as?: string }
  | { do: 'KVM_SET_DEVICE_ATTR'; vcpu: number; attr: 'KVM_VCPU_TSC_OFFSET'; value: RawValue }
  | { do: 'KVM_KVMCLOCK_CTRL'; vcpu: number }
  | { do: 'KVM_RUN'; vcpu?: number }
  | { do: 'pause' }
  | { do: 'read-pvclock'; vcpu: number; as: string }
  | { do: 'let'; as: string; value: RawValue }
  | { do: 'wait'; duration: string }
  // the guest's side: what code on that vCPU reads now
  | { do: 'guest-rdtsc'; vcpu: number; as?: string }
  | { do: 'guest-rdmsr'; vcpu: number; msr: 'IA32_TSC' | 'IA32_TSC_ADJUST' | 'IA32_TSC_DEADLINE'; as?: string }
  | { do: 'guest-kvmclock'; vcpu: number; as?: string }
  | { do: 'guest-clock_gettime'; vcpu: number; clock: 'CLOCK_MONOTONIC' | 'CLOCK_REALTIME'; as?: string }
  | { do: 'guest-wallclock'; vcpu: number; as?: string }
  | { do: 'guest-wrmsr'; vcpu: number; msr: 'IA32_TSC' | 'IA32_TSC_ADJUST' | 'IA32_TSC_DEADLINE' | 'MSR_KVM_SYSTEM_TIME' | 'MSR_KVM_SYSTEM_TIME_NEW'; value: RawValue }
  // the unmerged Woodhouse series (proposed-2026)
  | { do: 'KVM_GET_CLOCK_GUEST'; vcpu: number; as?: string }
  | { do: 'KVM_SET_CLOCK_GUEST'; vcpu: number; pvti: string }
);
export type StepKind = Step['do'];
export const STEP_KINDS: readonly StepKind[] = ['KVM_CREATE_VM', 'KVM_CREATE_VCPU', 'KVM_SET_TSC_KHZ', 'KVM_GET_TSC_KHZ', 'KVM_SET_MSRS',
  'KVM_GET_MSRS', 'KVM_GET_CLOCK', 'KVM_SET_CLOCK', 'KVM_GET_DEVICE_ATTR', 'KVM_SET_DEVICE_ATTR', 'KVM_KVMCLOCK_CTRL', 'KVM_RUN', 'pause',
  'read-pvclock', 'let', 'guest-rdtsc', 'guest-rdmsr', 'guest-kvmclock', 'guest-clock_gettime', 'guest-wallclock', 'guest-wrmsr',
  'KVM_GET_CLOCK_GUEST', 'KVM_SET_CLOCK_GUEST'];

/**
 * Why the era's KVM cannot take this step (null: it can). The ioctl or attribute is missing there: KVM answers
 * ENOTTY (an unknown ioctl), ENXIO (an unknown device attribute) or, for an MSR it does not emulate, a short count.
 */
export function eraLacks(rules: Rules, s: Step): string | null {
  const era = `KVM ${rules.name}`;
  switch (s.do) {
    case 'KVM_SET_TSC_KHZ':
      if (s.vcpu === undefined && !rules.commits.ffbb61d09fc5) return `${era} has no VM-wide KVM_SET_TSC_KHZ (ffbb61d09fc5, 6.0): -ENOTTY`;
      return null;
    case 'KVM_GET_TSC_KHZ':
      if (s.vcpu === undefined && !rules.commits.ffbb61d09fc5) return `${era} has no VM-wide KVM_GET_TSC_KHZ (ffbb61d09fc5, 6.0): -ENOTTY`;
      return null;
    case 'KVM_GET_DEVICE_ATTR': case 'KVM_SET_DEVICE_ATTR':
      return rules.tscOffsetAttr ? null : `${era} has no KVM_VCPU_TSC_OFFSET attribute (5.16): -ENXIO`;
    case 'KVM_SET_MSRS': case 'KVM_GET_MSRS':
      return s.msr === 'IA32_TSC_ADJUST' && !rules.tscAdjustMsr ? `${era} does not emulate IA32_TSC_ADJUST (3.8): the ioctl stops short of it` : null;
    case 'KVM_GET_CLOCK_GUEST': case 'KVM_SET_CLOCK_GUEST':
      return rules.proposed ? null : `${era} has no ${s.do} (David Woodhouse's unmerged 2026 series: the proposed-2026 rule set): -ENOTTY`;
    case 'guest-wrmsr':
      return s.msr === 'IA32_TSC_ADJUST' && !rules.tscAdjustMsr ? `${era} does not emulate IA32_TSC_ADJUST (3.8): the guest's WRMSR takes a #GP` : null;
    case 'guest-rdmsr':
      return s.msr === 'IA32_TSC_ADJUST' && !rules.tscAdjustMsr ? `${era} does not emulate IA32_TSC_ADJUST (3.8): the guest's RDMSR takes a #GP` : null;
    case 'KVM_KVMCLOCK_CTRL':
      return rules.name === '2.6.37-3.3' ? `${era} has no KVM_KVMCLOCK_CTRL (3.5): -ENOTTY` : null;
    default: return null;
  }
}

/** What a step did, as the run result records it. */
export interface StepRecord {
  t: bigint;
  do: StepKind;
  vcpu?: number;
  /** The recipe it belongs to. */
  recipe?: string;
  /** The arguments as KVM got them (expressions evaluated). */
  args?: Record<string, bigint | string>;
  /** What KVM returned. */
  ret?: Record<string, bigint | string>;
  /** The name the result was saved as. */
  as?: string;
  /** The ioctl failed: its errno (EINVAL, ENXIO, ...) and why. */
  errno?: string;
  error?: string;
  /** Not taken: its `if` was false, or an optional step the era lacks. */
  skipped?: string;
}


// ---- recipes: step lists with parameters and per-vCPU groups -----------------------------------------------------

/** A group in a recipe: its steps once, or once per vCPU (`each: "vcpu"`, with $i the vCPU), when `if` holds. */
export interface StepGroup { each?: 'vcpu'; if?: string; steps: unknown[] }
const isGroup = (x: unknown): x is StepGroup => typeof x === 'object' && x !== null && !('do' in x) && Array.isArray((x as StepGroup).steps);

/**
 * A recipe's steps for a VM of `vcpus` vCPUs: groups unrolled, `$name` replaced by its parameter (a string that is
 * exactly "$i" becomes the number). A group's `if` is evaluated once, before its first step (a `let` of _gN), so
 * that a step inside it (a pause, say) does not change what the rest of the group does.
 */
export function expandSteps(template: readonly unknown[], params: Record<string, string>, vcpus: number, counter = { n: 0 }): unknown[] {
  const out: unknown[] = [];
  const subst = (x: unknown, p: Record<string, string>): unknown => JSON.parse(JSON.stringify(x), (_, v) => {
    if (typeof v !== 'string') return v;
    if (/^\$[A-Za-z_]\w*$/.test(v) && /^-?\d+$/.test(p[v.slice(1)] ?? '')) return Number(p[v.slice(1)]);
    return v.replace(/\$([A-Za-z_]\w*)/g, (m, name: string) => p[name] ?? m);
  });
  const withCond = (step: unknown, cond: string | null): unknown => {
    if (cond === null) return step;
    const s = step as { if?: string };
    return { ...s, if: s.if ? `${cond} && (${s.if})` : cond };
  };
  const walk = (items: readonly unknown[], p: Record<string, string>, cond: string | null) => {
    for (const item of items) {
      if (!isGroup(item)) { out.push(withCond(subst(item, p), cond)); continue; }
      let c = cond;
      if (item.if !== undefined) {
        const g = `_g${counter.n++}`;
        out.push(withCond({ do: 'let', as: g, value: `=(${String(subst(item.if, p))}) != 0` }, cond));
        c = cond === null ? g : `${cond} && ${g}`;
      }
      if (item.each === 'vcpu') for (let i = 0; i < vcpus; i++) walk(item.steps, { ...p, i: String(i) }, c);
      else walk(item.steps, p, c);
    }
  };
  walk(template, params, null);
  return out;
}
