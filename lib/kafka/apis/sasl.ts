/**
 * SaslHandshake (key 17), versions 0–1, and SaslAuthenticate (key 36), versions 0–1 (none flexible).
 * After a v0 handshake the token travels as a bare size-prefixed frame (server.ts handles it); after
 * a v1 handshake it travels in SaslAuthenticate.
 *
 *   SaslHandshake Request => mechanism:STRING
 *   SaslHandshake Response => error_code:INT16 [mechanisms:STRING]
 *
 *   SaslAuthenticate Request => auth_bytes:BYTES
 *   SaslAuthenticate Response => error_code:INT16 error_message:NULLABLE_STRING auth_bytes:BYTES
 *                                session_lifetime_ms:INT64 (v1+)
 */
import type { ApiCodec } from '../api.js';

export interface SaslHandshakeRequest {
  readonly mechanism: string;
}

export interface SaslHandshakeResponse {
  readonly errorCode: number;
  readonly mechanisms: readonly string[];
}

export const saslHandshake: ApiCodec<SaslHandshakeRequest, SaslHandshakeResponse> = {
  key: 17,
  name: 'SaslHandshake',
  minVersion: 0,
  maxVersion: 1,
  decodeRequest(reader) {
    return { mechanism: reader.string('mechanism') };
  },
  encodeResponse(writer, _version, response) {
    writer.int16(response.errorCode).array(response.mechanisms, (w, mechanism) => w.string(mechanism));
  },
};

export interface SaslAuthenticateRequest {
  readonly authBytes: Buffer;
}

export interface SaslAuthenticateResponse {
  readonly errorCode: number;
  readonly errorMessage: string | null;
  readonly authBytes: Buffer;
}

export const saslAuthenticate: ApiCodec<SaslAuthenticateRequest, SaslAuthenticateResponse> = {
  key: 36,
  name: 'SaslAuthenticate',
  minVersion: 0,
  maxVersion: 1,
  decodeRequest(reader) {
    return { authBytes: reader.bytesField('auth_bytes') };
  },
  encodeResponse(writer, version, response) {
    writer.int16(response.errorCode).nullableString(response.errorMessage).nullableBytes(response.authBytes);
    if (version >= 1) writer.int64(0);
  },
};
