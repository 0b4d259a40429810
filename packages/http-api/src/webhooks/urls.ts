/** Whether a URL may be a webhook endpoint's: its form, and the addresses it leads to. */
import { lookup } from 'node:dns/promises';
import { MAX_WEBHOOK_URL_LENGTH } from '@ticketboss/domain';
import { addressClass, refusedAddressReason } from './addresses.js';

/** The addresses a hostname resolves to. */
export type ResolveHost = (hostname: string) => Promise<readonly string[]>;

export type UrlCheck =
  | { readonly ok: true; readonly url: string }
  /** Not an absolute http(s) URL, too long, or with a user name or password. */
  | { readonly ok: false; readonly problem: 'malformed' }
  /** It leads only to addresses webhooks may not reach; `reason` says which and why. */
  | { readonly ok: false; readonly problem: 'not_public'; readonly reason: string };

/** How long registration waits for DNS before it lets a hostname through (delivery checks it again anyway). */
export const RESOLVE_TIMEOUT_MS = 2000;

export const systemResolver: ResolveHost = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map(({ address }) => address);

/**
 * Checks a webhook URL, and answers it as the WHATWG parser writes it (the form it is stored and posted to):
 * absolute http or https, at most MAX_WEBHOOK_URL_LENGTH characters, no credentials; unless `allowPrivate`, its
 * literal address must be public, and a hostname must resolve to at least one public address. A hostname that
 * does not resolve (yet), or not in time, is let through: every delivery checks the address it connects to.
 */
export async function checkWebhookUrl(
  raw: string,
  { allowPrivate, resolveHost = systemResolver }: { allowPrivate: boolean; resolveHost?: ResolveHost | undefined },
): Promise<UrlCheck> {
  const malformed = { ok: false, problem: 'malformed' } as const;
  if (raw.length > MAX_WEBHOOK_URL_LENGTH || !URL.canParse(raw)) return malformed;
  const url = new URL(raw);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return malformed;
  if (url.username !== '' || url.password !== '' || url.hostname === '') return malformed;
  if (url.href.length > MAX_WEBHOOK_URL_LENGTH) return malformed;
  const accepted = { ok: true, url: url.href } as const;
  if (allowPrivate) return accepted;

  // Literal addresses come normalised from the parser (`0x7f.1` is `127.0.0.1`; IPv6 in brackets).
  if (addressClass(url.hostname) !== undefined) {
    const reason = refusedAddressReason(url.hostname);
    return reason === undefined ? accepted : { ok: false, problem: 'not_public', reason };
  }
  const addresses = await resolveWithin(resolveHost, url.hostname, RESOLVE_TIMEOUT_MS);
  if (addresses.length === 0) return accepted;
  const refusals = addresses.map(refusedAddressReason);
  if (refusals.some((reason) => reason === undefined)) return accepted;
  return {
    ok: false,
    problem: 'not_public',
    reason: `${url.hostname} resolves only to addresses webhooks may not reach (${refusals[0]!})`,
  };
}

/** The addresses, or none when the name does not resolve or the resolver takes longer than `timeoutMs`. */
async function resolveWithin(
  resolveHost: ResolveHost,
  hostname: string,
  timeoutMs: number,
): Promise<readonly string[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<readonly string[]>((resolve) => {
    timer = setTimeout(() => resolve([]), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([resolveHost(hostname).catch(() => []), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
