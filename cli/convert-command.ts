// tsclab convert: the options only. The converter (cli/convert.ts: the Wasm
// kernel, the readers, node:fs streams) loads when the command runs.
import { Command } from 'commander';

export interface ConvertOpts {
  from: string; to: string;
  tscOffset?: string; tscScalingRatio?: string; fracBits?: string; kvmDebugfs?: string; l2?: string;
  pvclock?: string; hvPage?: string;
  perf?: string; perfTimeConv?: string; perfOn?: string;
  clocksource?: string; tsc2nsec?: string; traceCmdOptions?: string;
  trace?: string; vcpu?: string;
  in: string; out: string; format: string; outFormat?: string;
  column?: string; separator?: string; header?: boolean; skipBad?: boolean; explain?: boolean;
}

const DOMAINS = 'host-tsc, guest-tsc, kvmclock-ns, perf-ns, hv-ref, host-ns';

export function convertCommand(setCode: (c: number) => void): Command {
  return new Command('convert')
    .description('convert raw TSC / clock stamps between the host and guest clock domains, exactly (one per line, a column, or u64le)')
    .exitOverride()
    .requiredOption('--from <domain>', DOMAINS).requiredOption('--to <domain>', DOMAINS)
    .option('--tsc-offset <s64>', 'the vCPU\'s TSC offset (debugfs tsc-offset; the u64 bits the tracepoint prints also work)')
    .option('--tsc-scaling-ratio <u64>', 'the vCPU\'s TSC scaling ratio (debugfs tsc-scaling-ratio)')
    .option('--frac-bits <48|32>', 'the ratio\'s fractional bits: 48 (VMX, default) or 32 (SVM)')
    .option('--kvm-debugfs <dir>', 'a vCPU directory, /sys/kernel/debug/kvm/<pid>-<fd>/vcpuN (its three files)')
    .option('--l2 <offset[,ratio]>', 'a nested (L2) guest\'s offset and ratio, composed with the L1 ones as KVM does')
    .option('--pvclock <ts,st,mul,shift[,flags]>', 'a pvclock page: tsc_timestamp, system_time, tsc_to_system_mul, tsc_shift, flags (default 1, STABLE)')
    .option('--hv-page <scale,offset>', 'a Hyper-V TSC page (default: derived from the pvclock page as KVM does)')
    .option('--perf <zero,mult,shift[,cycles,mask]>', 'perf_event_mmap_page time_zero, time_mult, time_shift[, time_cycles, time_mask]')
    .option('--perf-time-conv <file>', 'perf\'s TIME_CONV record as `perf script -D` prints it (instead of --perf)')
    .option('--perf-on <host|guest>', 'which TSC the perf clock reads', 'host')
    .option('--clocksource <mult,shift>', 'host-ns by clocksource_cyc2ns (the product wraps at 2^64)')
    .option('--tsc2nsec <mult,shift,offset>', 'host-ns by trace-cmd\'s tsc2nsec clock (96-bit product)')
    .option('--trace-cmd-options <file>', 'trace-cmd\'s TSC2NSEC option as `trace-cmd dump --options` prints it (instead of --tsc2nsec)')
    .option('--trace <file>', 'piecewise parameters: kvm_write_tsc_offset / kvm_pvclock_update lines of `trace-cmd report` or `perf script`')
    .option('--vcpu <n>', 'with --trace: the vCPU whose lines apply (needed when the trace has several)')
    .option('--in <file>', 'the stamps (- for standard input)', '-').option('--out <file>', 'where to write (- for standard output)', '-')
    .option('--format <dec|hex|u64le>', 'stamp format of the input (and the output unless --out-format)', 'dec')
    .option('--out-format <dec|hex|u64le>', 'stamp format of the output')
    .option('--column <n>', 'convert field n (1-based) of each line, keeping the rest of the line byte for byte')
    .option('--separator <c>', 'the field separator with --column (default ","; \\t for tabs)')
    .option('--header', 'copy the first line unchanged (a CSV header)')
    .option('--skip-bad', 'copy lines whose stamp is malformed or has no answer unchanged (counted on stderr; left out of u64le output) instead of stopping')
    .option('--explain', 'print the steps of the conversion on stderr')
    .action(async (o: ConvertOpts) => {
      const { runConvert } = await import('./convert.js');
      setCode(await runConvert(o));
    });
}
