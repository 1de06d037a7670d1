// KVM's clock tracepoints as `trace-cmd report` prints them (tsclab run --tracepoints). Every line is checked
// against the TP_printk format strings as read in arch/x86/kvm/trace.h (kvm-x86/linux@aebed32e4985, copied here
// by hand, not from sim/kvm/trace.ts) behind trace-cmd's prefix (tracecmd/trace-read.c: "%16s-%-5d [%03d]",
// " %6.1000d:", then print_event_name's " %s: " padded to 20 characters).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBuiltin } from '../sim/scenarios.js';
import { parseScenario, type Scenario } from '../sim/scenario.js';
import { Machine } from '../sim/machine.js';
import { FORMATS } from '../sim/kvm/trace.js';

/** TP_printk of each event, the string literals of trace.h joined. */
const TRACE_H: Record<string, string> = {
  kvm_write_tsc_offset: 'vcpu=%u prev=%llu next=%llu',
  kvm_update_master_clock: 'masterclock %d hostclock %s offsetmatched %u',
  kvm_track_tsc: 'vcpu_id %u masterclock %u offsetmatched %u nr_online %u' + ' hostclock %s',
  kvm_pvclock_update: 'vcpu_id %u, pvclock { version %u, tsc_timestamp 0x%llx, ' + 'system_time 0x%llx, tsc_to_system_mul 0x%x, tsc_shift %d, '
    + 'flags 0x%x }',
  kvm_msr: 'msr_%s %x = 0x%llx%s',
};
/** A format string as a regular expression over its output. */
const formatRe = (fmt: string) => new RegExp(`^${fmt.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  .replace(/%llu|%u/g, '\\d+').replace(/%d/g, '-?\\d+').replace(/%llx|%x/g, '[0-9a-f]+').replace(/%s/g, '(?:[a-z]+|| \\(#GP\\))')}$`);
const PREFIX = /^(.{16})-(\d+ *) \[(\d{3})\] +(\d+)\.(\d{6}): (\w+): ( *)(.*)$/;

function check(lines: string[]): Map<string, number> {
  const seen = new Map<string, number>();
  for (const line of lines) {
    const m = PREFIX.exec(line);
    assert.ok(m, `trace-cmd's prefix: ${line}`);
    const [, comm, pid, , , , name, pad, info] = m!;
    assert.ok(/^ *\S/.test(comm) && pid.length >= 5, `%16s-%-5d: ${line}`);
    assert.is(name.length + pad.length, Math.max(20, name.length), `the event name padded to 20: ${line}`);
    assert.ok(name in TRACE_H, `a modelled event: ${name}`);
    assert.ok(formatRe(TRACE_H[name]).test(info), `${name}: "${info}" against "${TRACE_H[name]}"`);
    seen.set(name, (seen.get(name) ?? 0) + 1);
  }
  return seen;
}

const traced = (s: Scenario) => { const m = new Machine(s); m.enableTracepoints(); return m.run(); };

test('the model prints the format strings of trace.h', () => {
  assert.equal({ ...FORMATS }, TRACE_H);
});

test('seed-002 with the qemu-legacy recipe: every line matches its format; each destination vCPU\'s offset is written three times', () => {
  const s = loadBuiltin('seed-002-precise-migration');
  const events = s.events.map((e) => (e.do === 'migrate' ? { at: e.at, do: 'recipe' as const, recipe: 'qemu-legacy', to: e.to, downtime: e.downtime } : e));
  const r = traced({ ...s, events } as Scenario);
  const seen = check(r.tracepoints!);
  for (const n of ['kvm_write_tsc_offset', 'kvm_track_tsc', 'kvm_update_master_clock', 'kvm_pvclock_update', 'kvm_msr']) assert.ok(seen.get(n), n);
  // the first migration at 5 s + 100 ms downtime, on host b (40 days up): creation (TSC 0), the reset's IA32_TSC = 0,
  // the TSC by value -- Cloud Hypervisor #8383's "each vCPU's TSC offset is written twice" after the creation
  const at = r.tracepoints!.filter((l) => / 3456005\.100000: kvm_write_tsc_offset:/.test(l));
  assert.is(at.filter((l) => /vcpu=0 /.test(l)).length, 3);
  assert.is(at.filter((l) => /vcpu=1 /.test(l)).length, 3);
  // the guest's own MSR writes: kvmclock's MSR_KVM_SYSTEM_TIME_NEW at boot (pa | 1), vCPU 1's at pa + 64 (host a: 3 days up)
  assert.ok(r.tracepoints!.some((l) => /CPU 1\/KVM-4244 +\[001\] 259200\.000000: kvm_msr: +msr_write 4b564d01 = 0x80040041$/.test(l)));
});

test('the era decides: 2.6.37-3.3 has only kvm_msr; a 4.x host on HPET prints "hostclock hpet", 6.x "hostclock none"', () => {
  const world = (rules: string, clocksource = 'tsc') => parseScenario({ name: 't', until: '2s', hosts: [{ name: 'a', tscKhz: 2500000, pcpus: 2, clocksource }],
    vm: { host: 'a', vcpus: 2, kvm: { rules } }, events: [{ at: '1s', do: 'wrmsr', vcpu: 0, msr: 'IA32_TSC', value: 0 }] });
  const old = traced(world('2.6.37-3.3')).tracepoints!;
  assert.equal([...check(old).keys()], ['kvm_msr']);
  assert.ok(traced(world('4.12-5.9', 'hpet')).tracepoints!.some((l) => /kvm_track_tsc: +vcpu_id 1 masterclock 0 offsetmatched 1 nr_online 2 hostclock hpet$/.test(l)));
  assert.ok(traced(world('6.7+')).tracepoints!.some((l) => /kvm_update_master_clock: masterclock 1 hostclock tsc offsetmatched 1$/.test(l)));
  assert.ok(traced(world('6.7+', 'hpet')).tracepoints!.some((l) => /kvm_track_tsc: +vcpu_id 1 masterclock 0 offsetmatched 1 nr_online 2 hostclock none$/.test(l)));
  check(traced(world('6.7+', 'hpet')).tracepoints!);
});

test('tsclab run --tracepoints prints them first; --json carries them and the steps; without the flag, nothing changes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsclab-tp-'));
  const f = join(dir, 's.json');
  writeFileSync(f, JSON.stringify({ name: 'tp', until: '2s', hosts: [{ name: 'a', tscKhz: 2500000, pcpus: 2 }], vm: { host: 'a', vcpus: 1 },
    events: [{ at: '1s', do: 'KVM_GET_CLOCK', as: 'c' }] }));
  const cli = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', cli, 'run', f, ...args], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  const text = run('--tracepoints');
  assert.is(text.status, 0, text.stderr);
  assert.match(text.stdout.split('\n')[0], /^ +CPU 0\/KVM-4243  \[000\] 86400\.000000: kvm_write_tsc_offset: vcpu=0 prev=0 next=\d+$/);
  const j = JSON.parse(run('--tracepoints', '--json').stdout);
  check(j.tracepoints);
  assert.is(j.steps[0].do, 'KVM_GET_CLOCK');
  assert.is(j.steps[0].ret.flags, '14');
  const plain = JSON.parse(run('--json').stdout);
  assert.is(plain.tracepoints, undefined);
  assert.ok(plain.steps);
});

test.run();
