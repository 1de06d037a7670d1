// The host side's timeline: what happens at which real time -- the scenario's VMM steps, KVM's delayed work
// (kvmclock_update_work, KVMCLOCK_SYNC_PERIOD), the ends of preemptions, churn slices and numad walks. A binary
// heap ordered by time, then by the order things were scheduled (two entries at one instant run as scheduled).
// The guest's own timers are not here: they are found from its clocks (sim/guest/, docs/engine.md).

export interface TimelineEntry {
  t: bigint;
  run: () => void;
  /** A point where nothing happens but the guest is looked at (observe.from). */
  marker?: boolean;
}

interface Slot extends TimelineEntry { seq: number }

export class Timeline {
  private heap: Slot[] = [];
  private seq = 0;

  get size(): number { return this.heap.length; }

  /** Schedules run at real time t. */
  at(t: bigint, run: () => void, marker = false): void {
    const h = this.heap;
    h.push({ t, run, marker, seq: this.seq++ });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  /** The time of the next entry (null: none). */
  peek(): bigint | null { return this.heap.length ? this.heap[0].t : null; }

  /** Takes the next entry. */
  pop(): TimelineEntry | undefined {
    const h = this.heap;
    if (!h.length) return undefined;
    const top = h[0], last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && before(h[l], h[m])) m = l;
        if (r < h.length && before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

const before = (a: Slot, b: Slot) => (a.t < b.t || (a.t === b.t && a.seq < b.seq));
