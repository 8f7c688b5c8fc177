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
  if (processMetrics) collectDefaultMetrics({ register: registry })
  let served = 0
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
