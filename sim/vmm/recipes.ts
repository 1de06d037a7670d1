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

/** Firecracker's snapshot: pause (each vCPU out of KVM_RUN, then KVM_KVMCLOCK_CTRL), each vCPU's state (KVM_GET_TSC_KHZ,
 *  the MSRs it saves: IA32_TSC, IA32_TSC_ADJUST, MSR_KVM_SYSTEM_TIME_NEW), the VM's KVM_GET_CLOCK. */
const FC_SNAPSHOT: unknown[] = [
  { do: 'pause' },
  { each: 'vcpu', steps: [{ if: '(st_live$i & 1) != 0', do: 'KVM_KVMCLOCK_CTRL', vcpu: '$i', optional: true }] },
  { each: 'vcpu', steps: [
    { do: 'KVM_GET_TSC_KHZ', vcpu: '$i', as: 'khz$i' },
    { do: 'KVM_GET_MSRS', vcpu: '$i', msr: 'IA32_TSC', as: 'tsc$i' },
    { do: 'KVM_GET_MSRS', vcpu: '$i', msr: 'IA32_TSC_ADJUST', as: 'adj$i', optional: true },
    { do: 'KVM_GET_MSRS', vcpu: '$i', msr: 'MSR_KVM_SYSTEM_TIME_NEW', as: 'st$i' },
  ] },
  { do: 'KVM_GET_CLOCK', as: 'clock' },
];
/** The kvmclock MSR of each vCPU as it runs (to skip KVM_KVMCLOCK_CTRL where kvmclock is off, whose -EINVAL
 *  Firecracker and Cloud Hypervisor ignore). */
const LIVE_ST: unknown[] = [{ each: 'vcpu', steps: [{ do: 'KVM_GET_MSRS', vcpu: '$i', msr: 'MSR_KVM_SYSTEM_TIME_NEW', as: 'st_live$i' }] }];

/** Firecracker's restore (build_microvm_from_snapshot): KVM_CREATE_VM, every KVM_CREATE_VCPU, KVM_SET_TSC_KHZ on each
 *  when the host's rate is more than 250 ppm from the snapshot's (is_tsc_scaling_required), each vCPU's
 *  restore_state (KVM_SET_MSRS with the saved MSRs, then KVM_KVMCLOCK_CTRL), then the VM's restore_state
 *  (KVM_SET_CLOCK with flags REALTIME when clock_realtime, else 0), then resume. */
const FC_RESTORE = (realtime: boolean): unknown[] => [
  { do: 'KVM_CREATE_VM', host: '$to' },
  { each: 'vcpu', steps: [{ do: 'KVM_CREATE_VCPU' }] },
  { do: 'KVM_GET_TSC_KHZ', vcpu: 0, as: 'cur' },
  { if: 'cur - khz0 > khz0 * 250 / 1000000 || khz0 - cur > khz0 * 250 / 1000000', each: 'vcpu',
    steps: [{ do: 'KVM_SET_TSC_KHZ', vcpu: '$i', khz: '=khz0' }] },
  { each: 'vcpu', steps: [
    { do: 'KVM_SET_MSRS', vcpu: '$i', msr: 'IA32_TSC', value: '=tsc$i' },
    { do: 'KVM_SET_MSRS', vcpu: '$i', msr: 'IA32_TSC_ADJUST', value: '=adj$i', optional: true },
    { do: 'KVM_SET_MSRS', vcpu: '$i', msr: 'MSR_KVM_SYSTEM_TIME_NEW', value: '=st$i' },
    { if: '(st$i & 1) != 0', do: 'KVM_KVMCLOCK_CTRL', vcpu: '$i', optional: true },
  ] },
  realtime
    ? { do: 'KVM_SET_CLOCK', clock: '=clock.clock', flags: ['KVM_CLOCK_REALTIME'], realtime: '=clock.realtime' }
    : { do: 'KVM_SET_CLOCK', clock: '=clock.clock' },
  { each: 'vcpu', steps: [{ do: 'KVM_RUN', vcpu: '$i' }] },
];
const FC_SOURCES = [
  'firecracker-microvm/firecracker@81b38b9dad60 src/vmm/src/builder.rs build_microvm_from_snapshot (create_vcpus, '
    + 'is_tsc_scaling_required -> set_tsc_khz on every vCPU, each vCPU restore_state, then vm.restore_state(clock_realtime))',
  'firecracker@81b38b9dad60 src/vmm/src/arch/x86_64/vcpu.rs restore_state (KVM_SET_MSRS of the saved MSRs, then '
    + 'kvmclock_ctrl), is_tsc_scaling_required (250 ppm), save_state (get_tsc_khz, the MSRs to save)',
  'firecracker@81b38b9dad60 src/vmm/src/arch/x86_64/vm.rs restore_state (KVM_SET_CLOCK, flags = clock_realtime ? '
    + 'KVM_CLOCK_REALTIME : 0), save_state (KVM_GET_CLOCK); src/vmm/src/vstate/vcpu.rs (KVM_KVMCLOCK_CTRL at Pause)',
];

/** Cloud Hypervisor's restore as the trace in its PR #8383 shows it: each vCPU created and its state restored in turn
 *  (KVM_CREATE_VCPU, then KVM_SET_MSRS with its TSC), so each creation write of 0 matches the previous vCPU's offset
 *  and each TSC write, judged against that 0, starts a new generation; then KVM_SET_CLOCK before the vCPUs resume
 *  (PR #7932). */
const CH_RESTORE: unknown[] = [
  { do: 'KVM_CREATE_VM', host: '$to' },
  { each: 'vcpu', steps: [
    { do: 'KVM_CREATE_VCPU' },
    { do: 'KVM_GET_TSC_KHZ', vcpu: '$i', as: 'cur$i' },
    { if: 'cur$i != khz$i', do: 'KVM_SET_TSC_KHZ', vcpu: '$i', khz: '=khz$i' },
    { do: 'KVM_SET_MSRS', vcpu: '$i', msr: 'IA32_TSC', value: '=tsc$i' },
    { do: 'KVM_SET_MSRS', vcpu: '$i', msr: 'IA32_TSC_ADJUST', value: '=adj$i', optional: true },
    { do: 'KVM_SET_MSRS', vcpu: '$i', msr: 'MSR_KVM_SYSTEM_TIME_NEW', value: '=st$i' },
  ] },
];
const CH_CONT: unknown[] = [
  { do: 'KVM_SET_CLOCK', clock: '=clock.clock' },
  { each: 'vcpu', steps: [{ do: 'KVM_RUN', vcpu: '$i' }] },
];
/** Cloud Hypervisor's PR #8437 ("Re-sync vCPU TSC offsets after restore"): vCPU 0's KVM_VCPU_TSC_OFFSET written to every
 *  vCPU, vCPU 0 first, so that each write matches the last one and the masterclock can be used. */
const CH_RESYNC: unknown[] = [
  { do: 'KVM_GET_DEVICE_ATTR', vcpu: 0, attr: 'KVM_VCPU_TSC_OFFSET', as: 'ofs' },
  { each: 'vcpu', steps: [{ do: 'KVM_SET_DEVICE_ATTR', vcpu: '$i', attr: 'KVM_VCPU_TSC_OFFSET', value: '=ofs' }] },
];
const CH_SOURCES = [
  'cloud-hypervisor/cloud-hypervisor PR #8383 (closed): its description\'s kvm_write_tsc_offset trace ("vcpu=0 prev=0 next=A ; '
    + 'vcpu=0 prev=A next=B / vcpu=1 prev=0 next=B ; vcpu=1 prev=B next=C"): the order is read off that trace, not off CH\'s code',
  'cloud-hypervisor PR #7932 (merged, fixes #7930): resume() does set_clock before the vCPUs run; #7930: pause() reads the clock first',
  'cloud-hypervisor PR #8437 (merged 2026-06): "vmm: cpu: Re-sync vCPU TSC offsets after restore" (KVM_VCPU_TSC_OFFSET)',
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
  'firecracker-restore': {
    name: 'firecracker-restore',
    description: 'Firecracker snapshot, $downtime, restore on $to (default clock_realtime: false): the TSC and kvmclock resume '
      + 'where the snapshot left them, so guest time does not count the downtime',
    sources: FC_SOURCES,
    steps: [...LIVE_ST, ...FC_SNAPSHOT, { do: 'wait', duration: '$downtime' }, ...FC_RESTORE(false)],
  },
  'firecracker-restore-realtime': {
    name: 'firecracker-restore-realtime',
    description: 'firecracker-restore with clock_realtime: true: KVM_SET_CLOCK{REALTIME} adds the downtime to kvmclock, while '
      + 'the TSC restored by value does not move',
    sources: FC_SOURCES,
    steps: [...LIVE_ST, ...FC_SNAPSHOT, { do: 'wait', duration: '$downtime' }, ...FC_RESTORE(true)],
  },
  'cloud-hypervisor-restore': {
    name: 'cloud-hypervisor-restore',
    description: 'Cloud Hypervisor snapshot and restore as its PR #8383 traces it: the vCPUs end in different TSC generations '
      + '(offsets not equal), so the masterclock -- and the Hyper-V reference page, and PVCLOCK_TSC_STABLE_BIT -- stay off',
    sources: CH_SOURCES,
    steps: [...LIVE_ST, { do: 'KVM_GET_CLOCK', as: 'clock' }, ...FC_SNAPSHOT.slice(0, 3), { do: 'wait', duration: '$downtime' },
      ...CH_RESTORE, ...CH_CONT],
  },
  'cloud-hypervisor-restore-8437': {
    name: 'cloud-hypervisor-restore-8437',
    description: 'cloud-hypervisor-restore with PR #8437\'s fix: every vCPU given vCPU 0\'s KVM_VCPU_TSC_OFFSET before they run '
      + '(KVM 5.16+): one generation, the masterclock back on',
    sources: CH_SOURCES,
    steps: [...LIVE_ST, { do: 'KVM_GET_CLOCK', as: 'clock' }, ...FC_SNAPSHOT.slice(0, 3), { do: 'wait', duration: '$downtime' },
      ...CH_RESTORE, ...CH_RESYNC, ...CH_CONT],
  },
};
