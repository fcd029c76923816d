/**
 * Plain words for TLS failures. Node reports them as OpenSSL codes (CERT_HAS_EXPIRED,
 * ERR_SSL_TLSV1_ALERT_UNKNOWN_CA, …) whose meaning depends on which side refused: a verify code means
 * *we* refused the peer's certificate, an alert means the *peer* refused ours.
 */

/** OpenSSL verify codes (what Node puts in err.code and socket.authorizationError), in words. */
const VERIFY: Record<string, string> = {
  CERT_HAS_EXPIRED: 'certificate has expired',
  CERT_NOT_YET_VALID: 'certificate is not valid yet',
  ERR_TLS_CERT_ALTNAME_INVALID: 'hostname mismatch: the certificate does not name the host connected to',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'certificate is not signed by a trusted CA',
  UNABLE_TO_GET_ISSUER_CERT: 'certificate is not signed by a trusted CA',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'certificate is not signed by a trusted CA',
  SELF_SIGNED_CERT_IN_CHAIN: 'certificate is not signed by a trusted CA (self-signed chain)',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'certificate is self-signed and not trusted',
  CERT_SIGNATURE_FAILURE: 'certificate signature does not verify',
  CERT_REVOKED: 'certificate has been revoked',
};

/** Words for a verify code; the code itself when it is not a common one. */
export function verifyErrorText(code: string): string {
  return VERIFY[code] ?? code;
}

const THEIRS: [RegExp, string][] = [
  [/ALERT_UNKNOWN_CA|alert unknown ca/i, 'the peer refused our certificate: not signed by a CA it trusts'],
  [/CERTIFICATE_EXPIRED|alert certificate expired/i, 'the peer refused our certificate: certificate has expired'],
  [/CERTIFICATE_REQUIRED|alert certificate required/i, 'the peer requires a client certificate and we presented none'],
  [/BAD_CERTIFICATE|alert bad certificate/i, 'the peer refused our certificate (bad certificate)'],
  [/HANDSHAKE_FAILURE|alert handshake failure/i, 'TLS handshake failure (no common protocol or cipher, or no certificate)'],
  [/WRONG_VERSION_NUMBER|wrong version number/i, 'the peer does not speak TLS on this port (plain HTTP/TCP?)'],
];

/** A one-line explanation of a TLS error, or undefined when `err` is not one. Node's own text follows in brackets. */
export function explainTlsError(err: unknown): string | undefined {
  const e = err as { code?: string; message?: string; reason?: string } | undefined;
  const code = e?.code ?? '';
  const text = e?.message ?? String(err);
  if (VERIFY[code]) return `${code === 'ERR_TLS_CERT_ALTNAME_INVALID' ? VERIFY[code] : `the peer's ${VERIFY[code]}`} (${text})`;
  for (const [re, why] of THEIRS) if (re.test(code) || re.test(text)) return `${why} (${text})`;
  return undefined;
}
