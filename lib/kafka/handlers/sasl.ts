/**
 * SASL/PLAIN on the Kafka listener. The password is a Spool API key (the same keys as the HTTP API,
 * lib/auth.ts), so one key carries the same per-topic read/write/admin permissions on both; the
 * user name is not checked. A failed authentication is answered and the connection then closed.
 */
import { SpoolError } from '../../errors.js';
import { allows, allowsGroup, type ApiKeys } from '../../auth.js';
import type { ApiHandler, Principal } from '../api.js';
import { codecs } from '../served.js';
import { KafkaErrors } from '../errors.js';
import type { SaslAuthenticateRequest, SaslAuthenticateResponse } from '../protocol/messages/sasl-authenticate.js';
import type { SaslHandshakeRequest, SaslHandshakeResponse } from '../protocol/messages/sasl-handshake.js';
import type { Encodable } from '../protocol/runtime.js';
import type { SaslOptions } from '../server.js';

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

/** SaslHandshake v0–1: chooses the mechanism (after v0 the token comes as a bare frame: server.ts). */
export function saslHandshakeHandler(): ApiHandler<SaslHandshakeRequest, Encodable<SaslHandshakeResponse>> {
  return {
    codec: codecs.saslHandshake,
    beforeAuthentication: true,
    async handle({ mechanism }, { apiVersion, sasl }) {
      // A listener without SASL answers as Kafka's PLAINTEXT listener does: the client is in the wrong
      // state to authenticate (not "unsupported mechanism, supported: <nothing>").
      if (sasl.mechanisms.length === 0) return { errorCode: KafkaErrors.ILLEGAL_SASL_STATE, mechanisms: [] };
      if (!sasl.mechanisms.includes(mechanism)) return { errorCode: KafkaErrors.UNSUPPORTED_SASL_MECHANISM, mechanisms: sasl.mechanisms };
      sasl.handshake(mechanism, apiVersion);
      return { errorCode: KafkaErrors.NONE, mechanisms: sasl.mechanisms };
    },
  };
}

/** SaslAuthenticate v0–2 (v2 flexible). session_lifetime_ms (v1+) is 0: no re-authentication (KIP-368). */
export function saslAuthenticateHandler(): ApiHandler<SaslAuthenticateRequest, Encodable<SaslAuthenticateResponse>> {
  const answer = (errorCode: number, errorMessage: string | null): Encodable<SaslAuthenticateResponse> => ({
    errorCode,
    errorMessage,
    sessionLifetimeMs: 0,
  });
  return {
    codec: codecs.saslAuthenticate,
    beforeAuthentication: true,
    async handle({ authBytes }, { sasl }) {
      if (sasl.mechanism() === undefined) return answer(KafkaErrors.ILLEGAL_SASL_STATE, 'SaslAuthenticate must follow a SaslHandshake v1');
      const principal = await sasl.authenticate(authBytes);
      if (!principal)
        return answer(KafkaErrors.SASL_AUTHENTICATION_FAILED, 'authentication failed: the password must be a valid Spool API key');
      return answer(KafkaErrors.NONE, null);
    },
  };
}
