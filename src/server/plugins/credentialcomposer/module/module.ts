// CredentialComposer "module": a third party's composer, a TypeScript or
// JavaScript module loaded with a plain dynamic import (Node runs .ts as
// is). The module exports `createComposer(options, ctx)` (or that function
// as its default export) returning a CredentialComposer — the interface in
// src/server/credtemplate/composer.ts, documented in
// docs/credential-composer.md. Its output goes through the builder's checks
// like any built-in's, under the name `module:<its name>`.
import { pathToFileURL } from 'node:url';
import type { CredentialComposer } from '../../../credtemplate/composer.ts';

export const NAME = 'module';

export interface ModuleComposerConfig {
  /** Absolute. */
  readonly path: string;
  readonly options: Readonly<Record<string, string>>;
}

export interface ComposerModuleContext {
  /** The server's trust domain name, e.g. example.org. */
  readonly trustDomain: string;
}

export type CreateComposer = (options: Readonly<Record<string, string>>, ctx: ComposerModuleContext) => CredentialComposer | Promise<CredentialComposer>;

const METHODS = ['composeServerX509Ca', 'composeServerX509Svid', 'composeAgentX509Svid', 'composeWorkloadX509Svid', 'composeWorkloadJwtSvid'] as const;

/** Imports the module and builds its composer; throws naming what the module lacks. */
export async function loadModuleComposer(config: ModuleComposerConfig, ctx: ComposerModuleContext): Promise<CredentialComposer> {
  const mod = (await import(pathToFileURL(config.path).href)) as { createComposer?: unknown; default?: unknown };
  const create = typeof mod.createComposer === 'function' ? mod.createComposer : mod.default;
  if (typeof create !== 'function') throw new TypeError(`${config.path} exports no createComposer function (named or default)`);
  const composer = (await (create as CreateComposer)(config.options, ctx)) as Partial<CredentialComposer> | null;
  if (typeof composer !== 'object' || composer === null) throw new TypeError(`${config.path}: createComposer returned ${composer === null ? 'null' : typeof composer}, not a composer object`);
  if (typeof composer.name !== 'string' || composer.name === '') throw new TypeError(`${config.path}: the composer has no name (a non-empty string, named in errors about its output)`);
  const methods = METHODS.filter((m) => composer[m] !== undefined);
  for (const m of methods) if (typeof composer[m] !== 'function') throw new TypeError(`${config.path}: composer "${composer.name}": ${m} is not a function`);
  if (methods.length === 0) throw new TypeError(`${config.path}: composer "${composer.name}" has none of ${METHODS.join(', ')}`);
  // Delegates with its own `this`, under a name that says where it came from.
  const wrapped: CredentialComposer = { name: `module:${composer.name}` };
  for (const m of methods) (wrapped as unknown as Record<string, unknown>)[m] = (composer[m] as (...a: unknown[]) => unknown).bind(composer);
  return Object.freeze(wrapped);
}
