// Public surface of the config pipeline (see load.ts for the flow).
export { s } from './schema.ts';
export type {
  Fields,
  Infer,
  InferPlugins,
  LeafKind,
  LeafSpec,
  MapSpec,
  PluginsSpec,
  PluginTypeSpec,
  SectionSpec,
  Spec,
  UnsupportedSpec,
  ValidationIssue,
  ValidationResult,
} from './schema.ts';
export { configFromOverrides, loadConfigFile, parseConfig } from './load.ts';
export { detectFormat } from './hcl.ts';
export type { ConfigFormat } from './hcl.ts';
export type { ConfigOverride, ParseConfigOptions } from './load.ts';
export { ConfigError, formatProblem } from './config-error.ts';
export type { ConfigLocation, ConfigProblem } from './config-error.ts';
export { flagOverrides } from './merge.ts';
export type { FlagKeyMap } from './merge.ts';
export { expandEnv } from './expand-env.ts';
export type { Env } from './expand-env.ts';
export { formatDuration, parseDuration, tryParseDuration } from './duration.ts';
export type { DurationParse } from './duration.ts';
export { describeSchema, renderSchemaMarkdown, renderSchemaText } from './describe.ts';
export type { SchemaDocRow } from './describe.ts';
