// tsclab calc <formula>: the kernel's formulas from the command line, printing
// what the kernel would.
import { Command } from 'commander';
import * as t from '../bindings/index.js';
import { parseInteger, parseSmall, toJson, UsageError } from './output.js';
import { clocksourceLimit, kvmScaleTscLimit, perfLimit, pvclockLimit, showDuration, tsc2nsecLimit, type Limit } from '../tools/convert/limits.js';

type Opts = Record<string, string | boolean | undefined>;
const str = (o: Opts, k: string) => (typeof o[k] === 'string' ? (o[k] as string) : undefined);

function emit(o: Opts, json: Record<string, unknown>, text: string): void {
  console.log(o.json ? toJson(json) : text);
}

function pvInfo(o: Opts) {
  return {
    tscTimestamp: parseInteger('tsc-timestamp', str(o, 'tscTimestamp') ?? '0'),
    systemTime: parseInteger('system-time', str(o, 'systemTime') ?? '0'),
    tscToSystemMul: parseSmall('mul', str(o, 'mul'), 0, 0xffffffff),
    tscShift: parseSmall('shift', str(o, 'shift'), -32, 31),
    flags: parseSmall('flags', str(o, 'flags') ?? '0', 0, 255),
  };
}
const fracOf = (o: Opts): 48 | 32 => {
  const f = parseSmall('frac-bits', str(o, 'fracBits') ?? '48', 32, 48);
  if (f !== 48 && f !== 32) throw new UsageError('--frac-bits must be 48 (VMX) or 32 (SVM)');
  return f;
};

export function calcCommand(): Command {
  // usage errors (a missing option, an unknown formula) are thrown to the caller, which exits 2; subcommands inherit it
  const calc = new Command('calc').description('compute a kernel formula (bit-exact) and print what the kernel would').exitOverride();
  const sub = (name: string, desc: string) => calc.command(name).description(desc).option('--json', 'print JSON');

  sub('time-scale', 'kvm_get_time_scale(scaled_hz, base_hz): the pvclock (shift, mul)')
    .option('--scaled-hz <hz>', 'target rate (1000000000 for ns)', '1000000000')
    .option('--base-hz <hz>', 'source rate, e.g. the TSC in Hz')
    .option('--khz <khz>', 'the source rate in kHz instead of --base-hz')
    .action((o: Opts) => {
      const base = str(o, 'khz') !== undefined ? parseInteger('khz', str(o, 'khz')) * 1000n : parseInteger('base-hz', str(o, 'baseHz'));
      const r = t.kvmGetTimeScale(parseInteger('scaled-hz', str(o, 'scaledHz')), base);
      emit(o, r, `shift ${r.shift}, mul 0x${r.mul.toString(16)} (${r.mul})`);
    });

  sub('pvclock', '__pvclock_read_cycles: kvmclock ns at a guest TSC, from a pvclock page')
    .requiredOption('--mul <u32>', 'tsc_to_system_mul').requiredOption('--shift <s8>', 'tsc_shift')
    .option('--tsc-timestamp <u64>', 'tsc_timestamp', '0').option('--system-time <u64>', 'system_time', '0')
    .requiredOption('--tsc <u64>', 'the guest TSC read').option('--flags <u8>', 'flags', '0')
    .action((o: Opts) => {
      const info = pvInfo(o);
      const ns = t.pvclockReadCycles(info, parseInteger('tsc', str(o, 'tsc')));
      const khz = info.tscToSystemMul ? t.pvclockTscKhz(info) : 0n;
      emit(o, { ns, tscKhz: khz }, `${ns} ns (the page implies tsc_khz ${khz})`);
    });

  sub('scale-tsc', 'kvm_scale_tsc(tsc, ratio) (+ offset: kvm_read_l1_tsc)')
    .requiredOption('--tsc <u64>', 'host TSC').requiredOption('--ratio <u64>', 'scaling ratio')
    .option('--frac-bits <n>', '48 (VMX) or 32 (SVM)', '48').option('--offset <u64>', 'L1 TSC offset', '0')
    .action((o: Opts) => {
      const v = t.kvmReadL1Tsc(parseInteger('tsc', str(o, 'tsc')), parseInteger('ratio', str(o, 'ratio')), parseInteger('offset', str(o, 'offset')), fracOf(o));
      emit(o, { tsc: v }, `${v}`);
    });

  sub('tsc-ratio', 'kvm_set_tsc_khz: the ratio and KVM\'s decision for a guest rate on a host rate')
    .requiredOption('--user-khz <khz>', 'requested guest TSC rate').requiredOption('--host-khz <khz>', 'host TSC rate')
    .option('--frac-bits <n>', '48 (VMX) or 32 (SVM)', '48').option('--no-scaling', 'the host has no TSC scaling')
    .option('--tolerance-ppm <ppm>', 'tsc_tolerance_ppm', '250')
    .action((o: Opts) => {
      const r = t.kvmSetTscKhz({ userKhz: parseSmall('user-khz', str(o, 'userKhz'), 0, 0xffffffff), hostKhz: parseSmall('host-khz', str(o, 'hostKhz'), 1, 0xffffffff),
        hasTscControl: o.scaling !== false, fracBits: fracOf(o), tolerancePpm: parseSmall('tolerance-ppm', str(o, 'tolerancePpm'), 0, 999_999) });
      emit(o, r as unknown as Record<string, unknown>,
        `${r.result}${r.message ? ` (${r.message})` : ''}: ratio ${r.ratio} (0x${r.ratio.toString(16)}), band ${r.threshLo}..${r.threshHi} kHz`);
    });

  sub('clocksource', 'clocksource registration: the dmesg line (mult, shift, max_cycles, max_idle_ns)')
    .requiredOption('--name <name>', 'clocksource name, e.g. tsc')
    .option('--khz <khz>', 'rate in kHz (clocksource_register_khz)').option('--hz <hz>', 'rate in Hz (clocksource_register_hz)')
    .option('--jiffies <HZ>', 'the jiffies clocksource of this CONFIG_HZ').option('--refined-jiffies <HZ>', 'refined-jiffies of this CONFIG_HZ')
    .option('--mask-bits <n>', 'counter width', '64')
    .action((o: Opts) => {
      const bits = parseSmall('mask-bits', str(o, 'maskBits'), 1, 64);
      const name = str(o, 'name')!;
      const given = ['khz', 'hz', 'jiffies', 'refinedJiffies'].filter((k) => str(o, k) !== undefined);
      if (given.length !== 1) throw new UsageError('give exactly one of --khz, --hz, --jiffies, --refined-jiffies');
      let mask = t.clocksourceMask(bits), reg;
      if (str(o, 'khz')) reg = t.clocksourceRegisterKhz(parseSmall('khz', str(o, 'khz'), 1, 0xffffffff), mask);
      else if (str(o, 'hz')) reg = t.clocksourceRegisterHz(parseSmall('hz', str(o, 'hz'), 1, 0xffffffff), mask);
      else {
        mask = 0xffffffffn;
        reg = str(o, 'jiffies') ? t.clocksourceRegisterJiffies(parseSmall('jiffies', str(o, 'jiffies'), 1, 100_000))
          : t.clocksourceRegisterRefinedJiffies(parseSmall('refined-jiffies', str(o, 'refinedJiffies'), 1, 100_000));
      }
      emit(o, { name, mask, ...reg }, t.formatClocksourceLine(name, mask, reg));
    });

  sub('hv-page', 'compute_tsc_page_parameters: the Hyper-V reference TSC page from pvclock parameters')
    .requiredOption('--mul <u32>', 'tsc_to_system_mul').requiredOption('--shift <s8>', 'tsc_shift')
    .option('--tsc-timestamp <u64>', 'tsc_timestamp', '0').option('--system-time <u64>', 'system_time', '0')
    .option('--flags <u8>', 'pvclock flags (1 = STABLE; required for a valid page)', '1').option('--tsc <u64>', 'also read the page at this TSC')
    .action((o: Opts) => {
      const page = t.hvTscPageParams(pvInfo(o));
      if (!page) { emit(o, { valid: false }, 'no TSC page: sequence 0, the guest falls back to the reference counter MSR'); return; }
      const at = str(o, 'tsc') !== undefined ? t.hvReadTscPage(page.scale, page.offset, parseInteger('tsc', str(o, 'tsc'))) : undefined;
      emit(o, { valid: true, ...page, ...(at !== undefined ? { time100ns: at } : {}) },
        `tsc_scale 0x${page.scale.toString(16)}, tsc_offset ${BigInt.asIntN(64, page.offset)}${at !== undefined ? `; reference time ${at} x 100 ns` : ''}`);
    });

  sub('perf', 'perf_event_mmap_page: a raw TSC stamp to perf time')
    .requiredOption('--tsc <u64>', 'the rdtsc value').requiredOption('--time-mult <u32>', 'time_mult').requiredOption('--time-shift <n>', 'time_shift')
    .option('--time-zero <u64>', 'time_zero', '0')
    .action((o: Opts) => {
      const ns = t.perfTscToNs(parseInteger('tsc', str(o, 'tsc')), { timeZero: parseInteger('time-zero', str(o, 'timeZero')),
        timeMult: parseSmall('time-mult', str(o, 'timeMult'), 0, 0xffffffff), timeShift: parseSmall('time-shift', str(o, 'timeShift'), 0, 63) });
      emit(o, { ns }, `${ns} ns`);
    });
  sub('limits', 'where each conversion formula stops being exact for its parameters, and how long that is at a rate')
    .option('--clocksource <mult,shift>', 'clocksource_cyc2ns: the first delta whose cycles * mult wraps')
    .option('--perf <mult,shift>', 'perf time_mult, time_shift: the first counter value where tsc_to_perf_time overflows')
    .option('--kvm <ratio[,frac]>', 'kvm_scale_tsc: the first host TSC whose scaled value wraps u64 (frac bits 48 by default)')
    .option('--pvclock <mul,shift>', 'pvclock_scale_delta: the first delta whose pre-shift drops bits')
    .option('--tsc2nsec <mult,shift>', 'trace-cmd tsc2nsec: the first TSC whose ns value passes 2^64')
    .option('--hz <hz>', 'the input clock\'s rate for the seconds (default: the rate the parameters stand for)')
    .action((o: Opts) => {
      const hz = str(o, 'hz') !== undefined ? parseInteger('hz', str(o, 'hz'), 1n) : undefined;
      const pair = (name: string, lo: [bigint, bigint], hi: [bigint, bigint], optional = false): [bigint, bigint | undefined] => {
        const parts = str(o, name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()))!.split(',');
        if (parts.length !== 2 && !(optional && parts.length === 1)) throw new UsageError(`--${name}: expected two values separated by a comma`);
        return [parseInteger(name, parts[0], lo[0], lo[1]), parts[1] === undefined ? undefined : parseInteger(name, parts[1], hi[0], hi[1])];
      };
      const U32: [bigint, bigint] = [0n, 0xffffffffn], SHIFT: [bigint, bigint] = [0n, 63n];
      const out: Limit[] = [];
      if (str(o, 'clocksource')) { const [m, s] = pair('clocksource', U32, SHIFT); out.push(clocksourceLimit(m, Number(s), hz)); }
      if (str(o, 'perf')) { const [m, s] = pair('perf', U32, SHIFT); out.push(perfLimit(m, Number(s), hz)); }
      if (str(o, 'kvm')) { const [r, f] = pair('kvm', [0n, (1n << 64n) - 1n], [32n, 48n], true); out.push(kvmScaleTscLimit(r, Number(f ?? 48n), hz)); }
      if (str(o, 'pvclock')) { const [m, s] = pair('pvclock', U32, [-32n, 31n]); out.push(pvclockLimit(m, Number(s), hz)); }
      if (str(o, 'tsc2nsec')) { const [m, s] = pair('tsc2nsec', U32, SHIFT); out.push(tsc2nsecLimit(m, Number(s), hz)); }
      if (!out.length) throw new UsageError('give at least one of --clocksource, --perf, --kvm, --pvclock, --tsc2nsec');
      emit(o, { limits: out } as Record<string, unknown>, out.map((l) => l.firstInexact === null
        ? `${l.formula}: exact for every u64 input (nothing wraps below 2^64)`
        : `${l.formula}: ${l.what} from input ${l.firstInexact} (0x${l.firstInexact.toString(16)})` +
          (l.ms !== null ? `: ${showDuration(l.ms)} at ${l.hz} Hz (${l.hzFrom})` : `; ${l.hzFrom}`)).join('\n'));
    });
  return calc;
}
