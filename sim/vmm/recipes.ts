// Built-in recipes: the canned procedures of sim/vmm/vmm.ts and sim/vmm/migrate.ts written as VMM steps
// (sim/vmm/step-defs.ts), each from its VMM's source. A scenario runs one with {"do": "recipe", "recipe": name,
// "to", "downtime", "window"}, or copies its `steps` into the event and edits them. Parameters: $to, $downtime,
// $window; inside an {"each": "vcpu"} group, $i. docs/vmm-steps.md explains each step and cites the sources.
//
// tests/vmm-recipes.test.ts runs each recipe in place of its canned procedure on the built-in scenarios that use it
// and checks that the guest sees the same thing (log, anomalies, measurements).

export interface Recipe {
  name: string;
  description: string;
  /** Where each step comes from (repository, path, commit). */
  sources: string[];
  /** Refused on an era that lacks one of its ioctls (said at parse time). */
  steps: unknown[];
}

/** QEMU's vm_stop: pause_all_vcpus, then kvmclock_vm_state_change(running = false): kvm_synchronize_all_tsc (each
 *  vCPU's IA32_TSC into env->tsc), kvm_update_clock (KVM_GET_CLOCK). vCPU 0's pvclock page is guest memory, which
 *  kvmclock_current_nsec reads at cont (it does not change while the vCPUs are out). */
const QEMU_STOP: unknown[] = [
  { do: 'pause' },
  { each: 'vcpu', steps: [{ do: 'KVM_GET_MSRS', vcpu: '$i', msr: 'IA32_TSC', as: 'tsc$i' }] },
  { do: 'KVM_GET_CLOCK', as: 'clock' },
  { do: 'read-pvclock', vcpu: 0, as: 'page0' },
];

/** QEMU's vm_start, kvmclock part: KVM_SET_CLOCK with the clock read at stop when KVM said it is reliable
 *  (KVM_CLOCK_TSC_STABLE), else vCPU 0's page read at the TSC saved at stop (kvmclock_current_nsec, QEMU 2.9+). */
const QEMU_SET_CLOCK = {
  do: 'KVM_SET_CLOCK',
  clock: '=(clock.flags & KVM_CLOCK_TSC_STABLE) != 0 || qemu_pre_2_9 || page0.tsc_to_system_mul == 0 ? clock.clock : pvclock(page0, tsc0)',
};

/** vm_start: kvmclock_vm_state_change(running = true) tells each vCPU it was stopped (do_kvmclock_ctrl, when
 *  KVM_CAP_KVMCLOCK_CTRL; QEMU ignores the -EINVAL of a vCPU without kvmclock, here it is not called), then
 *  resume_all_vcpus: each vCPU enters KVM_RUN. */
const QEMU_RUN: unknown[] = [
  { each: 'vcpu', steps: [{ if: '(st$i & 1) != 0', do: 'KVM_KVMCLOCK_CTRL', vcpu: '$i', optional: true }] },
  { each: 'vcpu', steps: [{ do: 'KVM_RUN', vcpu: '$i' }] },
];

/** The source's per-vCPU state a migration carries: TSC_ADJUST, the TSC rate, the kvmclock MSR (and, precise, the offset). */
const QEMU_SAVE = (offset: boolean): unknown[] => [
  { each: 'vcpu', steps: [
    { do: 'KVM_GET_MSRS', vcpu: '$i', msr: 'IA32_TSC_ADJUST', as: 'adj$i', optional: true },
    { do: 'KVM_GET_TSC_KHZ', vcpu: '$i', as: 'khz$i' },
    { do: 'KVM_GET_MSRS', vcpu: '$i', msr: 'MSR_KVM_SYSTEM_TIME_NEW', as: 'st$i' },
    ...(offset ? [{ do: 'KVM_GET_DEVICE_ATTR', vcpu: '$i', attr: 'KVM_VCPU_TSC_OFFSET', as: 'ofs$i' }] : []),
  ] },
];

/** The destination: a new VM on $to; its vCPUs created at the migrated rate (kvm_arch_set_tsc_khz: KVM_GET_TSC_KHZ, then
 *  KVM_SET_TSC_KHZ when it differs), then each vCPU's reset (IA32_TSC = 0, IA32_TSC_ADJUST = 0), then the kvmclock MSR. */
const QEMU_CREATE: unknown[] = [
  { do: 'KVM_CREATE_VM', host: '$to' },
  { if: 'vm_wide_tsc_khz', do: 'KVM_SET_TSC_KHZ', khz: '=khz0', optional: true },
  { each: 'vcpu', steps: [
    { do: 'KVM_CREATE_VCPU' },
    { do: 'KVM_GET_TSC_KHZ', vcpu: '$i', as: 'cur$i' },
    { if: 'cur$i != khz0', do: 'KVM_SET_TSC_KHZ', vcpu: '$i', khz: '=khz0' },
  ] },
  { each: 'vcpu', steps: [
    { do: 'KVM_SET_MSRS', vcpu: '$i', msr: 'IA32_TSC', value: 0 },
    { do: 'KVM_SET_MSRS', vcpu: '$i', msr: 'IA32_TSC_ADJUST', value: 0, optional: true },
  ] },
  { each: 'vcpu', steps: [{ do: 'KVM_SET_MSRS', vcpu: '$i', msr: 'MSR_KVM_SYSTEM_TIME_NEW', value: '=st$i' }] },
];

const QEMU_SOURCES = [
  'qemu/qemu@09360a048bd7 hw/i386/kvm/clock.c: kvmclock_vm_state_change (stop: kvm_synchronize_all_tsc, KVM_GET_CLOCK; '
    + 'cont: KVM_SET_CLOCK{clock, flags 0}, then KVM_KVMCLOCK_CTRL on each vCPU), kvm_update_clock, kvmclock_current_nsec',
  'qemu/qemu target/i386/kvm/kvm.c: kvm_put_msrs (IA32_TSC, IA32_TSC_ADJUST, MSR_KVM_SYSTEM_TIME_NEW at KVM_PUT_FULL_STATE), kvm_arch_set_tsc_khz, kvm_arch_put_registers',
  'qemu/qemu system/cpus.c: do_vm_stop / vm_start (pause_all_vcpus, resume_all_vcpus); hw/i386/kvm/clock.c KVM_KVMCLOCK_CTRL on each vCPU at resume',
];

export const RECIPES: Record<string, Recipe> = {
  'qemu-stop': {
    name: 'qemu-stop',
    description: 'QEMU\'s stop (the `stop` action): vCPUs out, KVM_GET_CLOCK, each TSC read, vCPU 0\'s pvclock page read',
    sources: QEMU_SOURCES,
    steps: [{ if: 'running', steps: [...QEMU_STOP, { each: 'vcpu', steps: [{ do: 'KVM_GET_MSRS', vcpu: '$i', msr: 'MSR_KVM_SYSTEM_TIME_NEW', as: 'st$i' }] }] }],
  },
  'qemu-cont': {
    name: 'qemu-cont',
    description: 'QEMU\'s cont after qemu-stop (the `cont` action): KVM_SET_CLOCK with the clock saved at stop, KVM_KVMCLOCK_CTRL, KVM_RUN',
    sources: QEMU_SOURCES,
    steps: [{ if: '!running', steps: [QEMU_SET_CLOCK, ...QEMU_RUN] }],
  },
  'qemu-legacy': {
    name: 'qemu-legacy',
    description: 'QEMU live migration / save-restore before KVM_VCPU_TSC_OFFSET (the `legacy` procedure): kvmclock stopped while '
      + 'the VM is paused (KVM_GET_CLOCK at stop, KVM_SET_CLOCK of that value at cont), the TSC restored by value (host MSR writes)',
    sources: QEMU_SOURCES,
    steps: [
      { do: 'let', as: 'was_running', value: '=running' },
      { if: 'running', steps: QEMU_STOP },
      ...QEMU_SAVE(false),
      { do: 'wait', duration: '$downtime' },
      ...QEMU_CREATE,
      { each: 'vcpu', steps: [
        { do: 'KVM_SET_MSRS', vcpu: '$i', msr: 'IA32_TSC', value: '=tsc$i' },
        { do: 'KVM_SET_MSRS', vcpu: '$i', msr: 'IA32_TSC_ADJUST', value: '=adj$i', optional: true },
      ] },
      { do: 'wait', duration: '$window' },
      QEMU_SET_CLOCK,
      ...QEMU_RUN,
      { if: '!was_running', steps: QEMU_STOP },
    ],
  },
  'qemu-precise': {
    name: 'qemu-precise',
    description: 'QEMU\'s migration frame with the TSC and kvmclock restored by KVM\'s documented recipe (the `precise` '
      + 'procedure, KVM 5.16+): the destination\'s KVM_SET_CLOCK{clock, realtime, REALTIME} adds the downtime to kvmclock, and '
      + 'each vCPU\'s offset is the source\'s moved by the kvmclock elapsed (in guest cycles) and the host TSC difference. '
      + 'Mainline QEMU (09360a048bd7) does not do this: its KVM_SET_CLOCK has flags 0 and the TSC goes by value (qemu-legacy)',
    sources: [...QEMU_SOURCES,
      'torvalds/linux Documentation/virt/kvm/devices/vcpu.rst, KVM_VCPU_TSC_OFFSET: the recipe (ofs_dst = ofs_src - (guest_src - guest_dest) * freq + (tsc_src - tsc_dest))'],
    steps: [
      { do: 'let', as: 'was_running', value: '=running' },
      { if: 'running', steps: QEMU_STOP },
      ...QEMU_SAVE(true),
      { do: 'wait', duration: '$downtime' },
      ...QEMU_CREATE,
      { do: 'KVM_SET_CLOCK', clock: '=clock.clock', flags: '=clock.flags & KVM_CLOCK_REALTIME', realtime: '=clock.realtime' },
      { do: 'KVM_GET_CLOCK', as: 'dclock' },
      { each: 'vcpu', steps: [
        { do: 'KVM_SET_DEVICE_ATTR', vcpu: '$i', attr: 'KVM_VCPU_TSC_OFFSET',
          value: '=u64(ofs$i + cycles(s64(dclock.clock - clock.clock), khz$i) + clock.host_tsc - dclock.host_tsc)' },
        { do: 'KVM_SET_MSRS', vcpu: '$i', msr: 'IA32_TSC_ADJUST', value: '=adj$i' },
      ] },
      { do: 'wait', duration: '$window' },
      ...QEMU_RUN,
      { if: '!was_running', steps: QEMU_STOP },
    ],
  },
};
