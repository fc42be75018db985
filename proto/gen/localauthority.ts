import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { ActivateJWTAuthorityRequest as _spire_api_server_localauthority_v1_ActivateJWTAuthorityRequest, ActivateJWTAuthorityRequest__Output as _spire_api_server_localauthority_v1_ActivateJWTAuthorityRequest__Output } from './spire/api/server/localauthority/v1/ActivateJWTAuthorityRequest.ts';
import type { ActivateJWTAuthorityResponse as _spire_api_server_localauthority_v1_ActivateJWTAuthorityResponse, ActivateJWTAuthorityResponse__Output as _spire_api_server_localauthority_v1_ActivateJWTAuthorityResponse__Output } from './spire/api/server/localauthority/v1/ActivateJWTAuthorityResponse.ts';
import type { ActivateX509AuthorityRequest as _spire_api_server_localauthority_v1_ActivateX509AuthorityRequest, ActivateX509AuthorityRequest__Output as _spire_api_server_localauthority_v1_ActivateX509AuthorityRequest__Output } from './spire/api/server/localauthority/v1/ActivateX509AuthorityRequest.ts';
import type { ActivateX509AuthorityResponse as _spire_api_server_localauthority_v1_ActivateX509AuthorityResponse, ActivateX509AuthorityResponse__Output as _spire_api_server_localauthority_v1_ActivateX509AuthorityResponse__Output } from './spire/api/server/localauthority/v1/ActivateX509AuthorityResponse.ts';
import type { AuthorityState as _spire_api_server_localauthority_v1_AuthorityState, AuthorityState__Output as _spire_api_server_localauthority_v1_AuthorityState__Output } from './spire/api/server/localauthority/v1/AuthorityState.ts';
import type { GetJWTAuthorityStateRequest as _spire_api_server_localauthority_v1_GetJWTAuthorityStateRequest, GetJWTAuthorityStateRequest__Output as _spire_api_server_localauthority_v1_GetJWTAuthorityStateRequest__Output } from './spire/api/server/localauthority/v1/GetJWTAuthorityStateRequest.ts';
import type { GetJWTAuthorityStateResponse as _spire_api_server_localauthority_v1_GetJWTAuthorityStateResponse, GetJWTAuthorityStateResponse__Output as _spire_api_server_localauthority_v1_GetJWTAuthorityStateResponse__Output } from './spire/api/server/localauthority/v1/GetJWTAuthorityStateResponse.ts';
import type { GetX509AuthorityStateRequest as _spire_api_server_localauthority_v1_GetX509AuthorityStateRequest, GetX509AuthorityStateRequest__Output as _spire_api_server_localauthority_v1_GetX509AuthorityStateRequest__Output } from './spire/api/server/localauthority/v1/GetX509AuthorityStateRequest.ts';
import type { GetX509AuthorityStateResponse as _spire_api_server_localauthority_v1_GetX509AuthorityStateResponse, GetX509AuthorityStateResponse__Output as _spire_api_server_localauthority_v1_GetX509AuthorityStateResponse__Output } from './spire/api/server/localauthority/v1/GetX509AuthorityStateResponse.ts';
import type { LocalAuthorityClient as _spire_api_server_localauthority_v1_LocalAuthorityClient, LocalAuthorityDefinition as _spire_api_server_localauthority_v1_LocalAuthorityDefinition } from './spire/api/server/localauthority/v1/LocalAuthority.ts';
import type { PrepareJWTAuthorityRequest as _spire_api_server_localauthority_v1_PrepareJWTAuthorityRequest, PrepareJWTAuthorityRequest__Output as _spire_api_server_localauthority_v1_PrepareJWTAuthorityRequest__Output } from './spire/api/server/localauthority/v1/PrepareJWTAuthorityRequest.ts';
import type { PrepareJWTAuthorityResponse as _spire_api_server_localauthority_v1_PrepareJWTAuthorityResponse, PrepareJWTAuthorityResponse__Output as _spire_api_server_localauthority_v1_PrepareJWTAuthorityResponse__Output } from './spire/api/server/localauthority/v1/PrepareJWTAuthorityResponse.ts';
import type { PrepareX509AuthorityRequest as _spire_api_server_localauthority_v1_PrepareX509AuthorityRequest, PrepareX509AuthorityRequest__Output as _spire_api_server_localauthority_v1_PrepareX509AuthorityRequest__Output } from './spire/api/server/localauthority/v1/PrepareX509AuthorityRequest.ts';
import type { PrepareX509AuthorityResponse as _spire_api_server_localauthority_v1_PrepareX509AuthorityResponse, PrepareX509AuthorityResponse__Output as _spire_api_server_localauthority_v1_PrepareX509AuthorityResponse__Output } from './spire/api/server/localauthority/v1/PrepareX509AuthorityResponse.ts';
import type { RevokeJWTAuthorityRequest as _spire_api_server_localauthority_v1_RevokeJWTAuthorityRequest, RevokeJWTAuthorityRequest__Output as _spire_api_server_localauthority_v1_RevokeJWTAuthorityRequest__Output } from './spire/api/server/localauthority/v1/RevokeJWTAuthorityRequest.ts';
import type { RevokeJWTAuthorityResponse as _spire_api_server_localauthority_v1_RevokeJWTAuthorityResponse, RevokeJWTAuthorityResponse__Output as _spire_api_server_localauthority_v1_RevokeJWTAuthorityResponse__Output } from './spire/api/server/localauthority/v1/RevokeJWTAuthorityResponse.ts';
import type { RevokeX509AuthorityRequest as _spire_api_server_localauthority_v1_RevokeX509AuthorityRequest, RevokeX509AuthorityRequest__Output as _spire_api_server_localauthority_v1_RevokeX509AuthorityRequest__Output } from './spire/api/server/localauthority/v1/RevokeX509AuthorityRequest.ts';
import type { RevokeX509AuthorityResponse as _spire_api_server_localauthority_v1_RevokeX509AuthorityResponse, RevokeX509AuthorityResponse__Output as _spire_api_server_localauthority_v1_RevokeX509AuthorityResponse__Output } from './spire/api/server/localauthority/v1/RevokeX509AuthorityResponse.ts';
import type { RevokeX509UpstreamAuthorityRequest as _spire_api_server_localauthority_v1_RevokeX509UpstreamAuthorityRequest, RevokeX509UpstreamAuthorityRequest__Output as _spire_api_server_localauthority_v1_RevokeX509UpstreamAuthorityRequest__Output } from './spire/api/server/localauthority/v1/RevokeX509UpstreamAuthorityRequest.ts';
import type { RevokeX509UpstreamAuthorityResponse as _spire_api_server_localauthority_v1_RevokeX509UpstreamAuthorityResponse, RevokeX509UpstreamAuthorityResponse__Output as _spire_api_server_localauthority_v1_RevokeX509UpstreamAuthorityResponse__Output } from './spire/api/server/localauthority/v1/RevokeX509UpstreamAuthorityResponse.ts';
import type { TaintJWTAuthorityRequest as _spire_api_server_localauthority_v1_TaintJWTAuthorityRequest, TaintJWTAuthorityRequest__Output as _spire_api_server_localauthority_v1_TaintJWTAuthorityRequest__Output } from './spire/api/server/localauthority/v1/TaintJWTAuthorityRequest.ts';
import type { TaintJWTAuthorityResponse as _spire_api_server_localauthority_v1_TaintJWTAuthorityResponse, TaintJWTAuthorityResponse__Output as _spire_api_server_localauthority_v1_TaintJWTAuthorityResponse__Output } from './spire/api/server/localauthority/v1/TaintJWTAuthorityResponse.ts';
import type { TaintX509AuthorityRequest as _spire_api_server_localauthority_v1_TaintX509AuthorityRequest, TaintX509AuthorityRequest__Output as _spire_api_server_localauthority_v1_TaintX509AuthorityRequest__Output } from './spire/api/server/localauthority/v1/TaintX509AuthorityRequest.ts';
import type { TaintX509AuthorityResponse as _spire_api_server_localauthority_v1_TaintX509AuthorityResponse, TaintX509AuthorityResponse__Output as _spire_api_server_localauthority_v1_TaintX509AuthorityResponse__Output } from './spire/api/server/localauthority/v1/TaintX509AuthorityResponse.ts';
import type { TaintX509UpstreamAuthorityRequest as _spire_api_server_localauthority_v1_TaintX509UpstreamAuthorityRequest, TaintX509UpstreamAuthorityRequest__Output as _spire_api_server_localauthority_v1_TaintX509UpstreamAuthorityRequest__Output } from './spire/api/server/localauthority/v1/TaintX509UpstreamAuthorityRequest.ts';
import type { TaintX509UpstreamAuthorityResponse as _spire_api_server_localauthority_v1_TaintX509UpstreamAuthorityResponse, TaintX509UpstreamAuthorityResponse__Output as _spire_api_server_localauthority_v1_TaintX509UpstreamAuthorityResponse__Output } from './spire/api/server/localauthority/v1/TaintX509UpstreamAuthorityResponse.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  spire: {
    api: {
      server: {
        localauthority: {
          v1: {
            ActivateJWTAuthorityRequest: MessageTypeDefinition<_spire_api_server_localauthority_v1_ActivateJWTAuthorityRequest, _spire_api_server_localauthority_v1_ActivateJWTAuthorityRequest__Output>
            ActivateJWTAuthorityResponse: MessageTypeDefinition<_spire_api_server_localauthority_v1_ActivateJWTAuthorityResponse, _spire_api_server_localauthority_v1_ActivateJWTAuthorityResponse__Output>
            ActivateX509AuthorityRequest: MessageTypeDefinition<_spire_api_server_localauthority_v1_ActivateX509AuthorityRequest, _spire_api_server_localauthority_v1_ActivateX509AuthorityRequest__Output>
            ActivateX509AuthorityResponse: MessageTypeDefinition<_spire_api_server_localauthority_v1_ActivateX509AuthorityResponse, _spire_api_server_localauthority_v1_ActivateX509AuthorityResponse__Output>
            AuthorityState: MessageTypeDefinition<_spire_api_server_localauthority_v1_AuthorityState, _spire_api_server_localauthority_v1_AuthorityState__Output>
            GetJWTAuthorityStateRequest: MessageTypeDefinition<_spire_api_server_localauthority_v1_GetJWTAuthorityStateRequest, _spire_api_server_localauthority_v1_GetJWTAuthorityStateRequest__Output>
            GetJWTAuthorityStateResponse: MessageTypeDefinition<_spire_api_server_localauthority_v1_GetJWTAuthorityStateResponse, _spire_api_server_localauthority_v1_GetJWTAuthorityStateResponse__Output>
            GetX509AuthorityStateRequest: MessageTypeDefinition<_spire_api_server_localauthority_v1_GetX509AuthorityStateRequest, _spire_api_server_localauthority_v1_GetX509AuthorityStateRequest__Output>
            GetX509AuthorityStateResponse: MessageTypeDefinition<_spire_api_server_localauthority_v1_GetX509AuthorityStateResponse, _spire_api_server_localauthority_v1_GetX509AuthorityStateResponse__Output>
            LocalAuthority: SubtypeConstructor<typeof grpc.Client, _spire_api_server_localauthority_v1_LocalAuthorityClient> & { service: _spire_api_server_localauthority_v1_LocalAuthorityDefinition }
            PrepareJWTAuthorityRequest: MessageTypeDefinition<_spire_api_server_localauthority_v1_PrepareJWTAuthorityRequest, _spire_api_server_localauthority_v1_PrepareJWTAuthorityRequest__Output>
            PrepareJWTAuthorityResponse: MessageTypeDefinition<_spire_api_server_localauthority_v1_PrepareJWTAuthorityResponse, _spire_api_server_localauthority_v1_PrepareJWTAuthorityResponse__Output>
            PrepareX509AuthorityRequest: MessageTypeDefinition<_spire_api_server_localauthority_v1_PrepareX509AuthorityRequest, _spire_api_server_localauthority_v1_PrepareX509AuthorityRequest__Output>
            PrepareX509AuthorityResponse: MessageTypeDefinition<_spire_api_server_localauthority_v1_PrepareX509AuthorityResponse, _spire_api_server_localauthority_v1_PrepareX509AuthorityResponse__Output>
            RevokeJWTAuthorityRequest: MessageTypeDefinition<_spire_api_server_localauthority_v1_RevokeJWTAuthorityRequest, _spire_api_server_localauthority_v1_RevokeJWTAuthorityRequest__Output>
            RevokeJWTAuthorityResponse: MessageTypeDefinition<_spire_api_server_localauthority_v1_RevokeJWTAuthorityResponse, _spire_api_server_localauthority_v1_RevokeJWTAuthorityResponse__Output>
            RevokeX509AuthorityRequest: MessageTypeDefinition<_spire_api_server_localauthority_v1_RevokeX509AuthorityRequest, _spire_api_server_localauthority_v1_RevokeX509AuthorityRequest__Output>
            RevokeX509AuthorityResponse: MessageTypeDefinition<_spire_api_server_localauthority_v1_RevokeX509AuthorityResponse, _spire_api_server_localauthority_v1_RevokeX509AuthorityResponse__Output>
            RevokeX509UpstreamAuthorityRequest: MessageTypeDefinition<_spire_api_server_localauthority_v1_RevokeX509UpstreamAuthorityRequest, _spire_api_server_localauthority_v1_RevokeX509UpstreamAuthorityRequest__Output>
            RevokeX509UpstreamAuthorityResponse: MessageTypeDefinition<_spire_api_server_localauthority_v1_RevokeX509UpstreamAuthorityResponse, _spire_api_server_localauthority_v1_RevokeX509UpstreamAuthorityResponse__Output>
            TaintJWTAuthorityRequest: MessageTypeDefinition<_spire_api_server_localauthority_v1_TaintJWTAuthorityRequest, _spire_api_server_localauthority_v1_TaintJWTAuthorityRequest__Output>
            TaintJWTAuthorityResponse: MessageTypeDefinition<_spire_api_server_localauthority_v1_TaintJWTAuthorityResponse, _spire_api_server_localauthority_v1_TaintJWTAuthorityResponse__Output>
            TaintX509AuthorityRequest: MessageTypeDefinition<_spire_api_server_localauthority_v1_TaintX509AuthorityRequest, _spire_api_server_localauthority_v1_TaintX509AuthorityRequest__Output>
            TaintX509AuthorityResponse: MessageTypeDefinition<_spire_api_server_localauthority_v1_TaintX509AuthorityResponse, _spire_api_server_localauthority_v1_TaintX509AuthorityResponse__Output>
            TaintX509UpstreamAuthorityRequest: MessageTypeDefinition<_spire_api_server_localauthority_v1_TaintX509UpstreamAuthorityRequest, _spire_api_server_localauthority_v1_TaintX509UpstreamAuthorityRequest__Output>
            TaintX509UpstreamAuthorityResponse: MessageTypeDefinition<_spire_api_server_localauthority_v1_TaintX509UpstreamAuthorityResponse, _spire_api_server_localauthority_v1_TaintX509UpstreamAuthorityResponse__Output>
          }
        }
      }
    }
  }
}

