/**
 * Hides credentials in URLs before they reach a log line, an error message or a file: `etcd://user:pw@h:1`
 * becomes `etcd://user:***@h:1`. Works on malformed URLs too (those are the ones that end up in error
 * messages), so it never parses: whatever sits between the scheme and the last '@' is the credential.
 */

/** One URL (or what was meant to be one): the password — or, without a ':', the whole user part — masked. */
export function maskUrl(url: string): string {
  const at = url.lastIndexOf('@');
  // A level: store is a directory path: an '@' in it is part of the name, not a credential.
  if (at < 0 || url.startsWith('level:')) return url;
  const sep = url.indexOf('://');
  const firstColon = url.indexOf(':');
  // No '//': the first ':' ends a scheme ('level:u:p@…') or the user name ('u:p@…'); either way what follows it hides.
  const start = sep >= 0 && sep < at ? sep + 3 : firstColon >= 0 && firstColon < at ? firstColon + 1 : 0;
  const cred = url.slice(start, at);
  const colon = cred.indexOf(':');
  const shown = colon >= 0 ? `${cred.slice(0, colon)}:***` : '***';
  return `${url.slice(0, start)}${shown}${url.slice(at)}`;
}

/** Every `scheme://user:password@` inside free text (error messages, stacks) with the password masked. */
export function maskUrlsIn(text: string): string {
  return text.replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^\s/@:"']*):[^\s"']*@/g, '$1$2:***@');
}
