// Schema version 1. Entries keep their selectors, DNS names and federated
// trust domains as JSON for fast whole-table loads (the entry cache), and the
// selectors / federated trust domains also as rows for filtering. Duplicate
// detection (same parent, SPIFFE ID and selector set) looks up the
// (parent_id, spiffe_id) index inside the serialised write transaction.
import type { SqlDialect } from '../sql/connection.ts';
import type { Migration } from './runner.ts';

export const v1Initial: Migration = {
  version: 1,
  description: 'initial schema',
  statements: (d: SqlDialect) => [
    `CREATE TABLE bundles (
      pk ${d.autoIncrementPk},
      trust_domain ${d.binaryText} NOT NULL UNIQUE,
      data TEXT NOT NULL
    )`,
    `CREATE TABLE registered_entries (
      pk ${d.autoIncrementPk},
      entry_id TEXT NOT NULL UNIQUE,
      spiffe_id TEXT NOT NULL,
      parent_id TEXT NOT NULL,
      selectors TEXT NOT NULL,
      x509_svid_ttl BIGINT NOT NULL,
      jwt_svid_ttl BIGINT NOT NULL,
      dns_names TEXT NOT NULL,
      federates_with TEXT NOT NULL,
      admin INTEGER NOT NULL,
      downstream INTEGER NOT NULL,
      hint TEXT NOT NULL,
      expires_at BIGINT NOT NULL,
      revision_number BIGINT NOT NULL,
      created_at BIGINT NOT NULL
    )`,
    `CREATE INDEX registered_entries_parent_spiffe ON registered_entries (parent_id, spiffe_id)`,
    `CREATE INDEX registered_entries_spiffe_id ON registered_entries (spiffe_id)`,
    `CREATE INDEX registered_entries_hint ON registered_entries (hint)`,
    `CREATE INDEX registered_entries_expires_at ON registered_entries (expires_at)`,
    `CREATE TABLE entry_selectors (
      entry_pk BIGINT NOT NULL REFERENCES registered_entries (pk) ON DELETE CASCADE,
      type TEXT NOT NULL,
      value TEXT NOT NULL,
      PRIMARY KEY (entry_pk, type, value)
    )`,
    `CREATE INDEX entry_selectors_type_value ON entry_selectors (type, value)`,
    `CREATE TABLE entry_federates_with (
      entry_pk BIGINT NOT NULL REFERENCES registered_entries (pk) ON DELETE CASCADE,
      trust_domain ${d.binaryText} NOT NULL REFERENCES bundles (trust_domain),
      PRIMARY KEY (entry_pk, trust_domain)
    )`,
    `CREATE INDEX entry_federates_with_trust_domain ON entry_federates_with (trust_domain)`,
    `CREATE TABLE entry_events (
      id ${d.autoIncrementPk},
      entry_id TEXT NOT NULL,
      created_at BIGINT NOT NULL
    )`,
    `CREATE INDEX entry_events_created_at ON entry_events (created_at)`,
    `CREATE TABLE attested_nodes (
      pk ${d.autoIncrementPk},
      spiffe_id TEXT NOT NULL UNIQUE,
      data_type TEXT NOT NULL,
      serial_number TEXT NOT NULL,
      expires_at BIGINT NOT NULL,
      new_serial_number TEXT NOT NULL,
      new_expires_at BIGINT NOT NULL,
      can_reattest INTEGER NOT NULL,
      created_at BIGINT NOT NULL
    )`,
    `CREATE INDEX attested_nodes_expires_at ON attested_nodes (expires_at)`,
    `CREATE TABLE node_selectors (
      spiffe_id TEXT NOT NULL,
      pos BIGINT NOT NULL,
      type TEXT NOT NULL,
      value TEXT NOT NULL,
      PRIMARY KEY (spiffe_id, type, value)
    )`,
    `CREATE INDEX node_selectors_type_value ON node_selectors (type, value)`,
    `CREATE TABLE join_tokens (
      token TEXT PRIMARY KEY,
      expires_at BIGINT NOT NULL
    )`,
    `CREATE INDEX join_tokens_expires_at ON join_tokens (expires_at)`,
    `CREATE TABLE federation_relationships (
      pk ${d.autoIncrementPk},
      trust_domain ${d.binaryText} NOT NULL UNIQUE,
      bundle_endpoint_url TEXT NOT NULL,
      profile TEXT NOT NULL,
      endpoint_spiffe_id TEXT NOT NULL
    )`,
    `CREATE TABLE herald_meta (
      key TEXT PRIMARY KEY,
      value TEXT NOT NULL
    )`,
  ],
};
