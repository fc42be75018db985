// CredentialComposer plugins (SPIRE's plugin/server/credentialcomposer):
// change the subject, DNS SANs and extensions of X509-SVIDs and the claims
// of JWT-SVIDs the CA issues. The loaded composers (ServerCatalog.composers)
// go to the credential template builder (src/server/credtemplate), which
// defines the interface and checks every composer's output.
export type { CredentialComposer } from '../../credtemplate/composer.ts';
