/** Zones in this process's memory, behind the `ZoneBackend` interface. */
import { MemoryZones } from './memory-zones';
import type { ConnLimit, ConnOutcome, ConnSlot, ReqLimit, ReqOutcome, ZoneBackend, ZoneSpec } from './zone-types';

export class LocalZones implements ZoneBackend {
  constructor(readonly store: MemoryZones = new MemoryZones()) {}

  async declare(specs: readonly ZoneSpec[]): Promise<void> {
    this.store.declare(specs);
  }

  async limitReq(limits: readonly ReqLimit[]): Promise<ReqOutcome> {
    return this.store.limitReq(limits);
  }

  async acquireConn(limits: readonly ConnLimit[]): Promise<ConnOutcome> {
    return this.store.acquireConn(limits);
  }

  releaseConn(slots: readonly ConnSlot[]): void {
    this.store.releaseConn(slots);
  }

  async close(): Promise<void> {}
}
