/**
 * etcd TLS failures in words. gRPC reports every connection failure as "14 UNAVAILABLE: No connection
 * established. Last error: …" with the TLS reason buried in the text; these are configuration errors, not an
 * outage, so they become DENIED with the reason first. etcd (Go) answers any client certificate it refuses with
 * the same "bad certificate" alert, so our own certificate is also checked locally to say which problem it is.
 */
import { X509Certificate } from 'node:crypto';

const SERVER_SIDE: [RegExp, string][] = [
  [
    /ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames/,
    "hostname mismatch: etcd's certificate does not name the host in the store URL",
  ],
  [/certificate has expired/, "etcd's certificate has expired"],
  [/certificate is not yet valid/, "etcd's certificate is not valid yet"],
  [
    /unable to verify the first certificate|unable to get (local )?issuer certificate|self[- ]signed certificate/,
    "etcd's certificate is not signed by the store CA (store-ca)",
  ],
];

const CLIENT_REFUSED = /alert bad certificate|alert unknown ca|alert certificate (expired|required|unknown)|alert handshake failure/;

/** The reason of a TLS failure in an etcd/gRPC error message, or undefined when it is not one. */
export function explainEtcdTls(msg: string): string | undefined {
  for (const [re, why] of SERVER_SIDE) if (re.test(msg)) return `TLS with etcd failed: ${why}`;
  if (CLIENT_REFUSED.test(msg)) {
    return 'TLS with etcd failed: etcd refused our client certificate (store-cert/store-key): missing, expired, or not signed by a CA etcd trusts';
  }
  if (/WRONG_VERSION_NUMBER|wrong version number/.test(msg))
    return 'TLS with etcd failed: the members do not speak TLS (use etcd:// rather than etcds://?)';
  return undefined;
}

/** What is wrong with our own client certificate, seen from here: expired, not yet valid, or not issued by `ca`. */
export function diagnoseClientCert(
  certPem: string | Buffer | undefined,
  caPem: string | Buffer | undefined,
  now = new Date(),
): string | undefined {
  if (!certPem) return 'no client certificate was given (store-cert/store-key)';
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return 'the client certificate (store-cert) is not a valid PEM certificate';
  }
  if (new Date(cert.validTo) < now) return `our client certificate has expired (valid until ${cert.validTo})`;
  if (new Date(cert.validFrom) > now) return `our client certificate is not valid yet (valid from ${cert.validFrom})`;
  if (caPem) {
    try {
      const ca = new X509Certificate(caPem);
      if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
        return 'our client certificate is not signed by the store CA (store-ca); etcd trusts its own client CA';
    } catch {
      /* an unreadable CA is reported by the connection itself */
    }
  }
  return undefined;
}
