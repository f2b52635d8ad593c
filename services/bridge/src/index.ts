export type {
  Bridge,
  BridgeOptions,
  RouteStatus,
  RoutesSource,
  RouteTestInput,
  RouteTestResult,
} from './app.js';
export { BRIDGE_RESTART_DELAY_MS, createBridge } from './app.js';
export { DEAD_LETTER_HEADER, deadLetterSubject } from './carry.js';
export type { CompiledCondition, ConditionOp, RouteCondition } from './condition.js';
export { CONDITION_OPS, compileCondition } from './condition.js';
export type { CrossingPlan, PlanContext, SkipReason, SourceMessage } from './crossing.js';
export { planCrossing, targetQos, withTraceHeaders } from './crossing.js';
export { partitionOf } from './cursors.js';
export { BRIDGE_ERRORS, RouteCycleError, RouteDuplicateError, RouteInvalidError, RoutesFileError } from './errors.js';
export type { Outcome, RouteCounters } from './metrics.js';
export type { PartitionTimings } from './partitions.js';
export { DEFAULT_CURSOR_FLUSH_MS, DEFAULT_TICK_MS } from './partitions.js';
export type { LoadedRoutes } from './route-file.js';
export { loadRoutes, parseRoutes } from './route-file.js';
export { ROUTES_SCHEMA } from './route-schema.js';
export type {
  BridgeRoute,
  CompiledRoute,
  CompileOptions,
  PropertyMapping,
  QosLevel,
  QosPolicy,
  RetainPolicy,
} from './routes.js';
export { compileRoutes, DEFAULT_MAX_HOPS, feeds, IDENTITY_ROUTES, routeSlug } from './routes.js';
export { startBridge } from './start.js';
export type { CaptureFilter, Captures, TopicTemplate } from './template.js';
export { capture, compileTemplate, parseCaptureFilter, renderTemplate } from './template.js';
export type { PayloadTransform, Transformed } from './transform.js';
export { applyTransform, PAYLOAD_TRANSFORMS, TransformError } from './transform.js';
