// CredentialComposer plugins (SPIRE's plugin/server/credentialcomposer):
// change the subject, DNS SANs and extensions of X509-SVIDs and the claims of
// JWT-SVIDs the CA issues. None is built in yet; a plugin goes in
// credentialcomposer/<name>/plugin.ts and one line of the server catalog's
// BuiltIns, and the loaded composers (ServerCatalog.composers) go to the
// credential template builder. Its composer interface (src/server/credtemplate)
// replaces this placeholder once both have landed.

export type CredentialComposer = object;
