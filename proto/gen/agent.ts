import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { BoolValue as _google_protobuf_BoolValue, BoolValue__Output as _google_protobuf_BoolValue__Output } from './google/protobuf/BoolValue.ts';
import type { BytesValue as _google_protobuf_BytesValue, BytesValue__Output as _google_protobuf_BytesValue__Output } from './google/protobuf/BytesValue.ts';
import type { DoubleValue as _google_protobuf_DoubleValue, DoubleValue__Output as _google_protobuf_DoubleValue__Output } from './google/protobuf/DoubleValue.ts';
import type { Empty as _google_protobuf_Empty, Empty__Output as _google_protobuf_Empty__Output } from './google/protobuf/Empty.ts';
import type { FloatValue as _google_protobuf_FloatValue, FloatValue__Output as _google_protobuf_FloatValue__Output } from './google/protobuf/FloatValue.ts';
import type { Int32Value as _google_protobuf_Int32Value, Int32Value__Output as _google_protobuf_Int32Value__Output } from './google/protobuf/Int32Value.ts';
import type { Int64Value as _google_protobuf_Int64Value, Int64Value__Output as _google_protobuf_Int64Value__Output } from './google/protobuf/Int64Value.ts';
import type { StringValue as _google_protobuf_StringValue, StringValue__Output as _google_protobuf_StringValue__Output } from './google/protobuf/StringValue.ts';
import type { UInt32Value as _google_protobuf_UInt32Value, UInt32Value__Output as _google_protobuf_UInt32Value__Output } from './google/protobuf/UInt32Value.ts';
import type { UInt64Value as _google_protobuf_UInt64Value, UInt64Value__Output as _google_protobuf_UInt64Value__Output } from './google/protobuf/UInt64Value.ts';
import type { AgentClient as _spire_api_server_agent_v1_AgentClient, AgentDefinition as _spire_api_server_agent_v1_AgentDefinition } from './spire/api/server/agent/v1/Agent.ts';
import type { AgentX509SVIDParams as _spire_api_server_agent_v1_AgentX509SVIDParams, AgentX509SVIDParams__Output as _spire_api_server_agent_v1_AgentX509SVIDParams__Output } from './spire/api/server/agent/v1/AgentX509SVIDParams.ts';
import type { AttestAgentRequest as _spire_api_server_agent_v1_AttestAgentRequest, AttestAgentRequest__Output as _spire_api_server_agent_v1_AttestAgentRequest__Output } from './spire/api/server/agent/v1/AttestAgentRequest.ts';
import type { AttestAgentResponse as _spire_api_server_agent_v1_AttestAgentResponse, AttestAgentResponse__Output as _spire_api_server_agent_v1_AttestAgentResponse__Output } from './spire/api/server/agent/v1/AttestAgentResponse.ts';
import type { BanAgentRequest as _spire_api_server_agent_v1_BanAgentRequest, BanAgentRequest__Output as _spire_api_server_agent_v1_BanAgentRequest__Output } from './spire/api/server/agent/v1/BanAgentRequest.ts';
import type { CountAgentsRequest as _spire_api_server_agent_v1_CountAgentsRequest, CountAgentsRequest__Output as _spire_api_server_agent_v1_CountAgentsRequest__Output } from './spire/api/server/agent/v1/CountAgentsRequest.ts';
import type { CountAgentsResponse as _spire_api_server_agent_v1_CountAgentsResponse, CountAgentsResponse__Output as _spire_api_server_agent_v1_CountAgentsResponse__Output } from './spire/api/server/agent/v1/CountAgentsResponse.ts';
import type { CreateJoinTokenRequest as _spire_api_server_agent_v1_CreateJoinTokenRequest, CreateJoinTokenRequest__Output as _spire_api_server_agent_v1_CreateJoinTokenRequest__Output } from './spire/api/server/agent/v1/CreateJoinTokenRequest.ts';
import type { DeleteAgentRequest as _spire_api_server_agent_v1_DeleteAgentRequest, DeleteAgentRequest__Output as _spire_api_server_agent_v1_DeleteAgentRequest__Output } from './spire/api/server/agent/v1/DeleteAgentRequest.ts';
import type { GetAgentRequest as _spire_api_server_agent_v1_GetAgentRequest, GetAgentRequest__Output as _spire_api_server_agent_v1_GetAgentRequest__Output } from './spire/api/server/agent/v1/GetAgentRequest.ts';
import type { ListAgentsRequest as _spire_api_server_agent_v1_ListAgentsRequest, ListAgentsRequest__Output as _spire_api_server_agent_v1_ListAgentsRequest__Output } from './spire/api/server/agent/v1/ListAgentsRequest.ts';
import type { ListAgentsResponse as _spire_api_server_agent_v1_ListAgentsResponse, ListAgentsResponse__Output as _spire_api_server_agent_v1_ListAgentsResponse__Output } from './spire/api/server/agent/v1/ListAgentsResponse.ts';
import type { PostStatusRequest as _spire_api_server_agent_v1_PostStatusRequest, PostStatusRequest__Output as _spire_api_server_agent_v1_PostStatusRequest__Output } from './spire/api/server/agent/v1/PostStatusRequest.ts';
import type { PostStatusResponse as _spire_api_server_agent_v1_PostStatusResponse, PostStatusResponse__Output as _spire_api_server_agent_v1_PostStatusResponse__Output } from './spire/api/server/agent/v1/PostStatusResponse.ts';
import type { RenewAgentRequest as _spire_api_server_agent_v1_RenewAgentRequest, RenewAgentRequest__Output as _spire_api_server_agent_v1_RenewAgentRequest__Output } from './spire/api/server/agent/v1/RenewAgentRequest.ts';
import type { RenewAgentResponse as _spire_api_server_agent_v1_RenewAgentResponse, RenewAgentResponse__Output as _spire_api_server_agent_v1_RenewAgentResponse__Output } from './spire/api/server/agent/v1/RenewAgentResponse.ts';
import type { Agent as _spire_api_types_Agent, Agent__Output as _spire_api_types_Agent__Output } from './spire/api/types/Agent.ts';
import type { AgentMask as _spire_api_types_AgentMask, AgentMask__Output as _spire_api_types_AgentMask__Output } from './spire/api/types/AgentMask.ts';
import type { AttestationData as _spire_api_types_AttestationData, AttestationData__Output as _spire_api_types_AttestationData__Output } from './spire/api/types/AttestationData.ts';
import type { JoinToken as _spire_api_types_JoinToken, JoinToken__Output as _spire_api_types_JoinToken__Output } from './spire/api/types/JoinToken.ts';
import type { SPIFFEID as _spire_api_types_SPIFFEID, SPIFFEID__Output as _spire_api_types_SPIFFEID__Output } from './spire/api/types/SPIFFEID.ts';
import type { Selector as _spire_api_types_Selector, Selector__Output as _spire_api_types_Selector__Output } from './spire/api/types/Selector.ts';
import type { SelectorMatch as _spire_api_types_SelectorMatch, SelectorMatch__Output as _spire_api_types_SelectorMatch__Output } from './spire/api/types/SelectorMatch.ts';
import type { X509SVID as _spire_api_types_X509SVID, X509SVID__Output as _spire_api_types_X509SVID__Output } from './spire/api/types/X509SVID.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  google: {
    protobuf: {
      BoolValue: MessageTypeDefinition<_google_protobuf_BoolValue, _google_protobuf_BoolValue__Output>
      BytesValue: MessageTypeDefinition<_google_protobuf_BytesValue, _google_protobuf_BytesValue__Output>
      DoubleValue: MessageTypeDefinition<_google_protobuf_DoubleValue, _google_protobuf_DoubleValue__Output>
      Empty: MessageTypeDefinition<_google_protobuf_Empty, _google_protobuf_Empty__Output>
      FloatValue: MessageTypeDefinition<_google_protobuf_FloatValue, _google_protobuf_FloatValue__Output>
      Int32Value: MessageTypeDefinition<_google_protobuf_Int32Value, _google_protobuf_Int32Value__Output>
      Int64Value: MessageTypeDefinition<_google_protobuf_Int64Value, _google_protobuf_Int64Value__Output>
      StringValue: MessageTypeDefinition<_google_protobuf_StringValue, _google_protobuf_StringValue__Output>
      UInt32Value: MessageTypeDefinition<_google_protobuf_UInt32Value, _google_protobuf_UInt32Value__Output>
      UInt64Value: MessageTypeDefinition<_google_protobuf_UInt64Value, _google_protobuf_UInt64Value__Output>
    }
  }
  spire: {
    api: {
      server: {
        agent: {
          v1: {
            Agent: SubtypeConstructor<typeof grpc.Client, _spire_api_server_agent_v1_AgentClient> & { service: _spire_api_server_agent_v1_AgentDefinition }
            AgentX509SVIDParams: MessageTypeDefinition<_spire_api_server_agent_v1_AgentX509SVIDParams, _spire_api_server_agent_v1_AgentX509SVIDParams__Output>
            AttestAgentRequest: MessageTypeDefinition<_spire_api_server_agent_v1_AttestAgentRequest, _spire_api_server_agent_v1_AttestAgentRequest__Output>
            AttestAgentResponse: MessageTypeDefinition<_spire_api_server_agent_v1_AttestAgentResponse, _spire_api_server_agent_v1_AttestAgentResponse__Output>
            BanAgentRequest: MessageTypeDefinition<_spire_api_server_agent_v1_BanAgentRequest, _spire_api_server_agent_v1_BanAgentRequest__Output>
            CountAgentsRequest: MessageTypeDefinition<_spire_api_server_agent_v1_CountAgentsRequest, _spire_api_server_agent_v1_CountAgentsRequest__Output>
            CountAgentsResponse: MessageTypeDefinition<_spire_api_server_agent_v1_CountAgentsResponse, _spire_api_server_agent_v1_CountAgentsResponse__Output>
            CreateJoinTokenRequest: MessageTypeDefinition<_spire_api_server_agent_v1_CreateJoinTokenRequest, _spire_api_server_agent_v1_CreateJoinTokenRequest__Output>
            DeleteAgentRequest: MessageTypeDefinition<_spire_api_server_agent_v1_DeleteAgentRequest, _spire_api_server_agent_v1_DeleteAgentRequest__Output>
            GetAgentRequest: MessageTypeDefinition<_spire_api_server_agent_v1_GetAgentRequest, _spire_api_server_agent_v1_GetAgentRequest__Output>
            ListAgentsRequest: MessageTypeDefinition<_spire_api_server_agent_v1_ListAgentsRequest, _spire_api_server_agent_v1_ListAgentsRequest__Output>
            ListAgentsResponse: MessageTypeDefinition<_spire_api_server_agent_v1_ListAgentsResponse, _spire_api_server_agent_v1_ListAgentsResponse__Output>
            PostStatusRequest: MessageTypeDefinition<_spire_api_server_agent_v1_PostStatusRequest, _spire_api_server_agent_v1_PostStatusRequest__Output>
            PostStatusResponse: MessageTypeDefinition<_spire_api_server_agent_v1_PostStatusResponse, _spire_api_server_agent_v1_PostStatusResponse__Output>
            RenewAgentRequest: MessageTypeDefinition<_spire_api_server_agent_v1_RenewAgentRequest, _spire_api_server_agent_v1_RenewAgentRequest__Output>
            RenewAgentResponse: MessageTypeDefinition<_spire_api_server_agent_v1_RenewAgentResponse, _spire_api_server_agent_v1_RenewAgentResponse__Output>
          }
        }
      }
      types: {
        Agent: MessageTypeDefinition<_spire_api_types_Agent, _spire_api_types_Agent__Output>
        AgentMask: MessageTypeDefinition<_spire_api_types_AgentMask, _spire_api_types_AgentMask__Output>
        AttestationData: MessageTypeDefinition<_spire_api_types_AttestationData, _spire_api_types_AttestationData__Output>
        JoinToken: MessageTypeDefinition<_spire_api_types_JoinToken, _spire_api_types_JoinToken__Output>
        SPIFFEID: MessageTypeDefinition<_spire_api_types_SPIFFEID, _spire_api_types_SPIFFEID__Output>
        Selector: MessageTypeDefinition<_spire_api_types_Selector, _spire_api_types_Selector__Output>
        SelectorMatch: MessageTypeDefinition<_spire_api_types_SelectorMatch, _spire_api_types_SelectorMatch__Output>
        X509SVID: MessageTypeDefinition<_spire_api_types_X509SVID, _spire_api_types_X509SVID__Output>
      }
    }
  }
}

