// The error of the agent's manager, its SVID rotator and its sync: what
// stops the agent (banned, must re-attest, must re-bootstrap) or fails one
// step (an attestation, an empty bundle from the server).
import { HeraldError } from '../common/errors.ts';

export class AgentManagerError extends HeraldError {}
