// The readers of tools/convert/readers.ts on fixtures in their producers' exact
// formats (tests/fixtures/convert/), and every malformed field an error naming
// the line and the field.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseKvmDebugfs, parseKvmTrace, parseTimeConv, parseTsc2nsec, readKvmDebugfs, ReaderError } from '../tools/convert/readers.js';

const fx = (f: string) => fileURLToPath(new URL(`./fixtures/convert/${f}`, import.meta.url));
const text = (f: string) => readFileSync(fx(f), 'utf8');
const U64 = (1n << 64n) - 1n;

test('KVM debugfs vcpu dir: tsc-offset "%lld", ratio and frac bits "%llu" (arch/x86/kvm/debugfs.c)', async () => {
  assert.equal(await readKvmDebugfs(fx('vcpu0')), { tscOffset: -1207499999999n, ratio: 337769972052787n, fracBits: 48 });
  assert.equal(parseKvmDebugfs('d', { tscOffset: '-5\n' }), { tscOffset: -5n }, 'no ratio files without kvm_has_tsc_control');
  assert.throws(() => parseKvmDebugfs('d', { tscOffset: '12x\n' }), /^tsclab: d\/tsc-offset: tsc-offset: "12x" is not a signed decimal number$/);
  assert.throws(() => parseKvmDebugfs('d', { tscOffset: '9223372036854775808\n' }), /tsc-offset: 9223372036854775808 does not fit s64/);
  assert.throws(() => parseKvmDebugfs('d', { tscOffset: '0\n', ratio: '1\n', fracBits: '40\n' }), /tsc-scaling-ratio-frac-bits: 40 is neither 48 \(VMX\) nor 32 \(SVM\)/);
  assert.throws(() => parseKvmDebugfs('d', { tscOffset: '0\n', ratio: '-1\n', fracBits: '48\n' }), /d\/tsc-scaling-ratio: tsc-scaling-ratio: "-1"/);
  assert.throws(() => parseKvmDebugfs('d', { tscOffset: '0\n', ratio: '1\n' }), /come together/);
  await readKvmDebugfs(fx('nope')).then(() => assert.unreachable(), (e) => assert.match(e.message, /no tsc-offset file/));
});

test('kvm_write_tsc_offset / kvm_pvclock_update as trace-cmd report prints them (x86-tsc clock: raw counts)', () => {
  const ev = parseKvmTrace('t', text('host-trace-cmd.txt'));
  assert.equal(ev.map((e) => [e.line, e.event, e.ts]), [
    [2, 'kvm_write_tsc_offset', { unit: 'count', value: 1000000004213n }],
    [4, 'kvm_pvclock_update', { unit: 'count', value: 1200000000000n }],
    [6, 'kvm_write_tsc_offset', { unit: 'count', value: 1750000000000n }],
    [7, 'kvm_pvclock_update', { unit: 'count', value: 1750000120000n }],
  ]);
  assert.equal(ev[2], { line: 6, ts: ev[2].ts, event: 'kvm_write_tsc_offset', vcpu: 0, prev: 18446742873709551617n, next: 18446742866209551617n });
  assert.equal(ev[1].event === 'kvm_pvclock_update' && ev[1].page,
    { version: 2, tscTimestamp: 240000000000n, systemTime: 80000000000n, tscToSystemMul: 0xaaaaaaaa, tscShift: -1, flags: 1 });
});

test('the same events as perf script prints them (seconds.fraction of perf time)', () => {
  const ev = parseKvmTrace('p', text('host-perf-script.txt'));
  assert.equal(ev.map((e) => e.ts), [{ unit: 'ns', value: 390190173972n, digits: 9 }, { unit: 'ns', value: 690190172217n, digits: 9 }]);
  const us = parseKvmTrace('p', 'qemu-system-x86  4019/4020 [002]  4501.123456: kvm:kvm_write_tsc_offset: vcpu=1 prev=5 next=6\n');
  assert.equal(us[0], { line: 1, ts: { unit: 'ns', value: 4501123456000n, digits: 6 }, event: 'kvm_write_tsc_offset', vcpu: 1, prev: 5n, next: 6n });
});

test('a malformed tracepoint field is an error naming the line and the field', () => {
  const w = (fields: string) => `x\n qemu-4019  [002] 100: kvm_write_tsc_offset: ${fields}\n`;
  assert.throws(() => parseKvmTrace('f', w('vcpu=0 prev=1 next=-3')), /^tsclab: f:2: next: "-3" is not an unsigned decimal number$/);
  assert.throws(() => parseKvmTrace('f', w('vcpu=0 prev=18446744073709551616 next=1')), /f:2: prev: 18446744073709551616 does not fit 64 bits/);
  assert.throws(() => parseKvmTrace('f', w('vcpu=0 next=1')), /f:2: kvm_write_tsc_offset: field prev is missing/);
  const p = (fields: string) => ` qemu-4019  [002] 100: kvm_pvclock_update: vcpu_id 0, pvclock { version 2, tsc_timestamp 0x10, ${fields} }\n`;
  assert.throws(() => parseKvmTrace('f', p('system_time 0x20, tsc_to_system_mul 0x1ffffffff, tsc_shift -1, flags 0x1')), /f:1: tsc_to_system_mul: 0x1ffffffff does not fit 32 bits/);
  assert.throws(() => parseKvmTrace('f', p('system_time 0x20, tsc_to_system_mul 0x1, tsc_shift -200, flags 0x1')), /f:1: tsc_shift: -200 does not fit s8/);
  assert.throws(() => parseKvmTrace('f', p('system_time 20, tsc_to_system_mul 0x1, tsc_shift -1, flags 0x1')), /f:1: system_time: "20" is not a 0x hex number/);
  assert.throws(() => parseKvmTrace('f', p('tsc_to_system_mul 0x1, tsc_shift -1, flags 0x1')), /f:1: kvm_pvclock_update: field system_time is missing/);
  assert.throws(() => parseKvmTrace('f', ' qemu-4019  [002] 1.2345678901: kvm_write_tsc_offset: vcpu=0 prev=1 next=2\n'), /f:1: timestamp: "1.2345678901" is not seconds with 1 to 9 decimals/);
  assert.throws(() => parseKvmTrace('f', 'garbage kvm_write_tsc_offset here\n'), /f:1: a kvm_write_tsc_offset\/kvm_pvclock_update line in neither/);
  assert.equal(parseKvmTrace('f', ' qemu-4019  [002] 100: kvm_entry: vcpu 0\n'), [], 'other events are skipped');
});

test('perf TIME_CONV as perf script -D prints it (perf_event__fprintf_time_conv), short counters included', () => {
  assert.equal(parseTimeConv('d', text('perf-script-D.txt')), { timeShift: 32, timeMult: 1717986918, timeZero: 18446744063899723996n });
  // Leo Yan's example of the record (2021: "Muliplier", as perf spelt it then), with cap_user_time_short
  const arm = '... Time Shift      21\n... Time Muliplier  20971520\n... Time Zero       18446743935180835206\n' +
    '... Time Cycles     13852918225\n... Time Mask       0xffffffffffffff\n... Cap Time Zero   1\n... Cap Time Short  1\n';
  assert.equal(parseTimeConv('a', arm), { timeShift: 21, timeMult: 20971520, timeZero: 18446743935180835206n, timeCycles: 13852918225n, timeMask: 0xffffffffffffffn });
  assert.throws(() => parseTimeConv('a', arm.replace('0xffffffffffffff', 'ffff')), /a:5: Time Mask: "ffff" is not a 0x hex number/);
  assert.throws(() => parseTimeConv('a', arm.replace('20971520', '4294967296')), /a:2: Time Multiplier: 4294967296 does not fit 32 bits/);
  assert.throws(() => parseTimeConv('a', arm.replace('Shift      21', 'Shift      64')), /a:1: Time Shift: 64 is above 63/);
  assert.throws(() => parseTimeConv('a', arm.replace('Cap Time Zero   1', 'Cap Time Zero   0')), /a:6: Cap Time Zero: 0/);
  assert.throws(() => parseTimeConv('a', 'nothing'), /no PERF_RECORD_TIME_CONV/);
});

test('trace-cmd TSC2NSEC as trace-cmd dump --options prints it ("%d %d %llu": a u32 multiplier printed signed)', () => {
  assert.equal(parseTsc2nsec('o', text('trace-cmd-dump-options.txt')), { mult: 6710886, shift: 24, offset: 0n });
  assert.equal(parseTsc2nsec('o', '-1 31 18446744073709551615 [multiplier, shift, offset]'), { mult: 0xffffffff, shift: 31, offset: U64 });
  assert.throws(() => parseTsc2nsec('o', 'x\n5 64 0 [multiplier, shift, offset]'), /^tsclab: o:2: shift: 64 is not in 0\.\.63$/);
  assert.throws(() => parseTsc2nsec('o', '5 1 -1 [multiplier, shift, offset]'), /o:1: offset: "-1" is not an unsigned decimal number/);
  assert.throws(() => parseTsc2nsec('o', '[Option TSC2NSEC, 16 bytes]'), /no TSC2NSEC option/);
});

test('reader errors are input errors: the CLI prints them as "error: ..." and exits 2', () => {
  assert.instance(new ReaderError('f:1', 'x'), Error);
  assert.match(new ReaderError('f:1', 'x').message, /^tsclab: f:1: x$/);
});

test.run();
