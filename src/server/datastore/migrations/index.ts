// Every schema migration, in order. Append new versions; never edit a shipped one.
import type { Migration } from './runner.ts';
import { v1Initial } from './v1-initial.ts';

export const latestMigrations: readonly Migration[] = [v1Initial];

/** The schema version this code creates and understands. */
export const LATEST_SCHEMA_VERSION = latestMigrations.length;
