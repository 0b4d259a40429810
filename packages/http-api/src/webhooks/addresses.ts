/**
 * Which addresses webhooks may reach: public unicast ones only. Registration checks a URL's literal address, or
 * the addresses its hostname resolves to; delivery checks the address it is about to connect to, so a name that
 * later resolves to our own network (DNS rebinding) is refused all the same.
 */
import ipaddr from 'ipaddr.js';

/** How the classes of ipaddr.js read in a sentence ("127.0.0.1 is a loopback address"). */
const CLASS_NAMES: Readonly<Record<string, string>> = {
  unspecified: 'an unspecified',
  broadcast: 'a broadcast',
  multicast: 'a multicast',
  linkLocal: 'a link-local',
  loopback: 'a loopback',
  carrierGradeNat: 'a carrier-grade NAT',
  private: 'a private',
  uniqueLocal: 'a unique local (private)',
  reserved: 'a reserved',
  ipv4Compatible: 'an IPv4-compatible IPv6',
};

/**
 * The address's class as ipaddr.js names it (`unicast` for a public address, `loopback`, `private`, `linkLocal`,
 * ...), after unwrapping an IPv4-mapped IPv6 address (`::ffff:127.0.0.1` is IPv4's loopback); undefined for a
 * string that is not an IP address. An IPv6 zone (`fe80::1%eth0`) and the brackets of a URL's host are allowed.
 */
export function addressClass(address: string): string | undefined {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (!ipaddr.isValid(bare)) return undefined;
  const parsed = ipaddr.process(bare);
  const range = parsed.range();
  // ipaddr.js calls the deprecated IPv4-compatible IPv6 addresses (::/96, e.g. ::7f00:1 for 127.0.0.1) unicast.
  const compatible = parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).parts.slice(0, 6).every((p) => p === 0);
  return range === 'unicast' && compatible ? 'ipv4Compatible' : range;
}

/**
 * Whether a webhook may be sent to this address: true only for public unicast addresses. Loopback, private,
 * link-local (among them the cloud metadata service, 169.254.169.254 and fd00:ec2::254), unique local,
 * carrier-grade NAT, unspecified, reserved, multicast, broadcast and the translation and tunnelling ranges (which
 * can hide any of those) are not; neither is anything that is not an IP address.
 */
export function isPublicAddress(address: string): boolean {
  return addressClass(address) === 'unicast';
}

/**
 * Why the address is refused, as a clause ("127.0.0.1 is a loopback address"); undefined when it is public.
 */
export function refusedAddressReason(address: string): string | undefined {
  const range = addressClass(address);
  if (range === 'unicast') return undefined;
  if (range === undefined) return `${address} is not an IP address`;
  return `${address} is ${CLASS_NAMES[range] ?? `a special-purpose (${range})`} address`;
}
