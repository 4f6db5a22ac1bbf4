/**
 * SASL/PLAIN on the Kafka listener. The password is a Spool API key (the same keys as the HTTP API,
 * lib/auth.ts), so one key carries the same per-topic read/write/admin permissions on both; the
 * user name is not checked. A failed authentication is answered and the connection then closed.
 */
import { SpoolError } from '../../errors.js';
import { allows, allowsGroup, type ApiKeys } from '../../auth.js';
import type { ApiHandler, Principal } from '../api.js';
import { codecs } from '../served.js';
import type { SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse } from '../apis/sasl.js';
import { KafkaErrors } from '../errors.js';
import type { SaslApiHandler, SaslConnection, SaslOptions } from '../server.js';

export const plainMechanism = 'PLAIN';

/** SASL for a listener whose clients authenticate with API keys. */
export function apiKeySasl(keys: ApiKeys): SaslOptions {
  return {
    mechanisms: [plainMechanism],
    async authenticate(mechanism, token): Promise<Principal | undefined> {
      if (mechanism !== plainMechanism) return undefined;
      // PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd
      const parts = token.toString('utf8').split('\u0000');
      if (parts.length !== 3) return undefined;
      try {
        const principal = await keys.authenticate(parts[2]);
        return {
          name: principal.name,
          allows: (action, topic) => allows(principal, action, topic),
          allowsGroup: (action, group) => allowsGroup(principal, action, group),
        };
      } catch (error) {
        if (error instanceof SpoolError && error.code === 'UNAUTHENTICATED') return undefined;
        throw error;
      }
    },
  };
}

type Sasl<Request, Response> = ApiHandler<Request, Response> & SaslApiHandler;

export function saslHandshakeHandler(): Sasl<SaslHandshakeRequest, SaslHandshakeResponse> {
  return {
    codec: codecs.saslHandshake,
    handle: () => Promise.reject(new SpoolError('INTERNAL', 'SaslHandshake is served with its connection')),
    async handleSasl(request: unknown, context, connection: SaslConnection) {
      const { mechanism } = request as SaslHandshakeRequest;
      // A listener without SASL answers as Kafka's PLAINTEXT listener does: the client is in the wrong
      // state to authenticate (not "unsupported mechanism, supported: <nothing>").
      if (connection.mechanisms.length === 0) return { errorCode: KafkaErrors.ILLEGAL_SASL_STATE, mechanisms: [] };
      if (!connection.mechanisms.includes(mechanism))
        return { errorCode: KafkaErrors.UNSUPPORTED_SASL_MECHANISM, mechanisms: connection.mechanisms };
      connection.handshake(mechanism, context.apiVersion);
      return { errorCode: KafkaErrors.NONE, mechanisms: connection.mechanisms };
    },
  };
}

export function saslAuthenticateHandler(): Sasl<SaslAuthenticateRequest, SaslAuthenticateResponse> {
  const answer = (errorCode: number, errorMessage: string | null): SaslAuthenticateResponse => ({
    errorCode,
    errorMessage,
    authBytes: Buffer.alloc(0),
  });
  return {
    codec: codecs.saslAuthenticate,
    refuse: (_request, errorCode) => answer(errorCode, null),
    handle: () => Promise.reject(new SpoolError('INTERNAL', 'SaslAuthenticate is served with its connection')),
    async handleSasl(request: unknown, _context, connection: SaslConnection) {
      if (connection.mechanism() === undefined)
        return answer(KafkaErrors.ILLEGAL_SASL_STATE, 'SaslAuthenticate must follow a SaslHandshake v1');
      const principal = await connection.authenticate((request as SaslAuthenticateRequest).authBytes);
      if (!principal)
        return answer(KafkaErrors.SASL_AUTHENTICATION_FAILED, 'authentication failed: the password must be a valid Spool API key');
      return answer(KafkaErrors.NONE, null);
    },
  };
}
