/**
 * Kubernetes object names, checked before anything is sent: a DNS subdomain (RFC 1123),
 * as the API server requires of ConfigMaps, ServiceAccounts and most other kinds.
 */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** True when `name` is a valid DNS-subdomain object name (lower case, digits, '-', '.'; ≤ 253). */
export function isDnsSubdomain(name: string): boolean {
  return DNS_SUBDOMAIN.test(name);
}
