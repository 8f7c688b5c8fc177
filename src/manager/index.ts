/**
 * The manager: registry, task pipeline (assemble, pack, chunk, sign,
 * announce, seed), reports from agents, and API tokens.
 */
export { createManager, type Manager, type ManagerOptions, type ManagerLogger, type ManagerEventShape, type ManagerMetrics, type PageShape, type ReceivedPackageShape } from './manager.ts'
export { createToken, listTokens, revokeToken, createTokenChecker, TOKENS_FILE, type TokenRecord, type TokenScope, type TokenChecker } from './tokens.ts'
export { createEnrollmentToken, listEnrollmentTokens, enrollmentTokens, ENROLLMENTS_FILE, type EnrollmentTokenRecord, type EnrollmentTokens } from './enrollment.ts'
export { createRegistry, type Registry, type TaskRecord, type EnrollmentUse } from './registry.ts'
export { applyAdvert, applyAck, applyLogs, newTarget, type Applied, type Refusal } from './target-state.ts'
export { taskSummary, taskView, targetStatus } from './views.ts'
export { runAssemble, type AssembleOptions } from './assemble.ts'
export { buildPackage, type BuildOptions } from './builder.ts'
