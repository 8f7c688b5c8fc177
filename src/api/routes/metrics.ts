/**
 * `/metrics`: Prometheus text format from a registry of this API (not
 * prom-client's global one), filled from `service.metrics()` at scrape time.
 */
import type { FastifyInstance } from 'fastify'
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import { routeSchemas } from '../schemas.ts'
import type { ManagerMetrics, ManagerService } from '../service.ts'

/** A registry with Pollen's metrics, and the function that refreshes them. */
export interface PollenMetrics {
  readonly registry: Registry
  update: (figures: ManagerMetrics) => void
}

/** Create the API's metrics registry (with prom-client's process metrics when `processMetrics`). */
export function createMetrics (processMetrics: boolean): PollenMetrics {
  const registry = new Registry()
  const registers = [registry]
  const tasks = new Gauge({ name: 'pollen_tasks', help: 'Tasks the manager knows', registers })
  const targets = new Gauge({ name: 'pollen_targets', help: 'Registered targets', registers })
  const byStatus = new Gauge({
    name: 'pollen_targets_by_status',
    help: 'Targets per status of the current stage of their current task (RUN-SUCCESS, …; IDLE without a task)',
    labelNames: ['status'],
    registers
  })
  const bytesServed = new Counter({ name: 'pollen_bytes_served_total', help: 'Bytes of chunks the manager uploaded to peers since it started', registers })
  const refused = new Gauge({
    name: 'pollen_refused_reports',
    help: 'Agent reports the manager refused since it started, by reason (peer-mismatch, not-enrolled, enrollment-used, revoked, stale)',
    labelNames: ['reason'],
    registers
  })
  const sent = new Counter({
    name: 'pollen_sent_bytes_total',
    help: 'Bytes the manager sent to peers since it started, by libp2p protocol; protocol "(wire)" counts all its connections carried (framing, yamux and negotiation included)',
    labelNames: ['protocol'],
    registers
  })
  if (processMetrics) collectDefaultMetrics({ register: registry })
  let served = 0
  const sentBefore = new Map<string, number>()
  return {
    registry,
    update (figures) {
      tasks.set(figures.tasks)
      targets.set(figures.targets)
      byStatus.reset()
      for (const [status, count] of Object.entries(figures.targetsByStatus)) byStatus.set({ status }, count)
      for (const [reason, count] of Object.entries(figures.refusedReports ?? {})) refused.set({ reason }, count)
      // A counter only goes up: add what was served since the last scrape.
      if (figures.bytesServed > served) bytesServed.inc(figures.bytesServed - served)
      served = Math.max(served, figures.bytesServed)
      for (const [protocol, bytes] of Object.entries(figures.sentBytes ?? {})) {
        const before = sentBefore.get(protocol) ?? 0
        if (bytes > before) sent.inc({ protocol }, bytes - before)
        sentBefore.set(protocol, Math.max(before, bytes))
      }
    }
  }
}

/** Register `/metrics`. */
export function metricsRoutes (app: FastifyInstance, service: ManagerService, metrics: PollenMetrics): void {
  app.get('/metrics', { schema: routeSchemas.metrics }, async (_request, reply) => {
    metrics.update(await service.metrics())
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
  })
}
