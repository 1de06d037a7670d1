// pvclock semantics beyond the formula: the ABI layout, the version seqlock,
// STABLE, GUEST_STOPPED and the global last_value clamp.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as t from '../bindings/index.js';

// 1 GHz guest (mul 2^31, shift 1): ns == TSC delta.
const page = (tscTimestamp: bigint, systemTime: bigint, flags = 0, version = 2) =>
  ({ version, tscTimestamp, systemTime, tscToSystemMul: 0x80000000, tscShift: 1, flags });

test('struct pvclock_vcpu_time_info layout: 32 bytes, little-endian, packed', () => {
  const bytes = t.encodePvclockTimeInfo({ version: 3, tscTimestamp: 0x0102030405060708n, systemTime: 0x1112131415161718n,
    tscToSystemMul: 0xa1a2a3a4, tscShift: -2, flags: 5 });
  assert.is(bytes.length, 32);
  assert.equal([...bytes.subarray(0, 4)], [3, 0, 0, 0]);               // version @0
  assert.equal([...bytes.subarray(8, 16)], [8, 7, 6, 5, 4, 3, 2, 1]);   // tsc_timestamp @8
  assert.equal([...bytes.subarray(16, 24)], [0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11]); // system_time @16
  assert.equal([...bytes.subarray(24, 28)], [0xa4, 0xa3, 0xa2, 0xa1]); // tsc_to_system_mul @24
  assert.is(bytes[28], 0xfe);                                          // tsc_shift @28 (s8 -2)
  assert.is(bytes[29], 5);                                             // flags @29
  assert.equal(t.decodePvclockTimeInfo(bytes), { version: 3, tscTimestamp: 0x0102030405060708n,
    systemTime: 0x1112131415161718n, tscToSystemMul: 0xa1a2a3a4, tscShift: -2, flags: 5 });
});

test('seqlock: begin clears the low bit, retry when the version moved or was odd', () => {
  assert.is(t.pvclockReadBegin(7), 6);
  assert.ok(t.pvclockReadRetry(t.pvclockReadBegin(7), 7));   // odd: mid-update
  assert.not.ok(t.pvclockReadRetry(t.pvclockReadBegin(8), 8));
  assert.ok(t.pvclockReadRetry(t.pvclockReadBegin(8), 10));  // changed under us
  const clamp = t.createPvclockClamp();
  assert.equal(clamp.read(page(0n, 0n, 0, 5), 100n), { retry: true });
  assert.is(clamp.lastValue, 0n, 'a retried read leaves last_value alone');
  assert.equal(t.pvclockReadWallclock({ version: 1, sec: 0, nsec: 0 }, page(0n, 0n), 1n), { retry: true });
});

test('without a trusted STABLE bit, reads never go below the global last_value', () => {
  const clamp = t.createPvclockClamp({ validFlags: 0 });
  const cpu0 = page(0n, 1000n), cpu1 = page(0n, 900n); // cpu1's page is 100 ns behind
  assert.equal(clamp.read(cpu0, 50n), { retry: false, ns: 1050n, clamped: false, guestStopped: false });
  assert.equal(clamp.read(cpu1, 60n), { retry: false, ns: 1050n, clamped: true, guestStopped: false });
  assert.equal(clamp.read(cpu1, 200n), { retry: false, ns: 1100n, clamped: false, guestStopped: false });
  assert.is(clamp.lastValue, 1100n);
  assert.is(clamp.clampedCount, 1n);
});

test('STABLE trusted and set: no clamp, a backwards step shows', () => {
  const S = t.PVCLOCK_TSC_STABLE_BIT;
  const trusted = t.createPvclockClamp({ validFlags: S });
  assert.is((trusted.read(page(0n, 1000n, S), 50n) as { ns: bigint }).ns, 1050n);
  assert.equal(trusted.read(page(0n, 900n, S), 60n), { retry: false, ns: 960n, clamped: false, guestStopped: false });
  // STABLE set by the host but not trusted by the guest: clamped
  const untrusted = t.createPvclockClamp({ validFlags: 0 });
  untrusted.read(page(0n, 1000n, S), 50n);
  assert.is((untrusted.read(page(0n, 900n, S), 60n) as { ns: bigint }).ns, 1050n);
});

test('GUEST_STOPPED is consumed once and counted (pvclock_touch_watchdogs), not with _nowd', () => {
  const clamp = t.createPvclockClamp();
  const p = page(0n, 0n, t.PVCLOCK_GUEST_STOPPED);
  assert.equal(clamp.read(p, 10n), { retry: false, ns: 10n, clamped: false, guestStopped: true });
  assert.is(p.flags, 0, 'the guest cleared the bit');
  assert.is((clamp.read(p, 20n) as { guestStopped: boolean }).guestStopped, false);
  assert.is(clamp.guestStoppedCount, 1n);
  const nowd = t.createPvclockClamp({ dowd: false });
  const p2 = page(0n, 0n, t.PVCLOCK_GUEST_STOPPED);
  assert.is((nowd.read(p2, 10n) as { guestStopped: boolean }).guestStopped, false);
  assert.is(p2.flags, t.PVCLOCK_GUEST_STOPPED);
});

test('a stream of reads stops before a page mid-update and reports how far it got', () => {
  const clamp = t.createPvclockClamp();
  const pages = [page(0n, 0n), page(0n, 0n, 0, 3)];
  const out = new BigUint64Array(3);
  assert.is(clamp.readStream(pages, Uint32Array.of(0, 0, 1), BigUint64Array.of(5n, 7n, 9n), out), 2);
  assert.equal([...out], [5n, 7n, 0n]);
  assert.throws(() => clamp.readStream(pages, Uint32Array.of(2), BigUint64Array.of(1n), out), /cpu\[0\] = 2 but only 2 pages/);
});

test('pvclock_read_wallclock: wall time at system_time 0 plus kvmclock now', () => {
  const r = t.pvclockReadWallclock({ version: 2, sec: 1_700_000_000, nsec: 999_999_999 }, page(0n, 5n), 1n);
  assert.equal(r, { retry: false, sec: 1_700_000_001n, nsec: 5 });
});

test.run();
