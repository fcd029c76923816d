/**
 * Plain words for TLS failures. Node reports them as OpenSSL codes (CERT_HAS_EXPIRED,
 * ERR_SSL_TLSV1_ALERT_UNKNOWN_CA, …) whose meaning depends on which side refused: a verify code means
 * *we* refused the peer's certificate, an alert means the *peer* refused ours.
 */

const OURS: Record<string, string> = {
  CERT_HAS_EXPIRED: "the peer's certificate has expired",
  CERT_NOT_YET_VALID: "the peer's certificate is not valid yet",
  ERR_TLS_CERT_ALTNAME_INVALID: "hostname mismatch: the peer's certificate does not name the host we connected to",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the peer's certificate is not signed by a trusted CA",
  UNABLE_TO_GET_ISSUER_CERT: "the peer's certificate is not signed by a trusted CA",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the peer's certificate is not signed by a trusted CA",
  SELF_SIGNED_CERT_IN_CHAIN: "the peer's certificate is not signed by a trusted CA (self-signed chain)",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the peer's certificate is self-signed and not trusted",
  CERT_SIGNATURE_FAILURE: "the peer's certificate signature does not verify",
};

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
  if (OURS[code]) return `${OURS[code]} (${text})`;
  for (const [re, why] of THEIRS) if (re.test(code) || re.test(text)) return `${why} (${text})`;
  return undefined;
}
