import { describe, expect, it } from 'vitest';
import { checkWebhookUrl, RESOLVE_TIMEOUT_MS, type ResolveHost } from './urls.js';

const resolvesTo =
  (table: Record<string, readonly string[]>): ResolveHost =>
  async (hostname) => {
    const addresses = table[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses;
  };

const strict = (resolveHost?: ResolveHost) => ({ allowPrivate: false, resolveHost });

describe('checkWebhookUrl', () => {
  it.each([
    ['https://93.184.215.14/hooks', 'https://93.184.215.14/hooks'],
    ['http://93.184.215.14:8080/a?b=c', 'http://93.184.215.14:8080/a?b=c'],
    ['HTTPS://[2606:4700:4700::1111]/x', 'https://[2606:4700:4700::1111]/x'],
    ['https://hooks.partner.test', 'https://hooks.partner.test/'],
  ])('accepts %s, as the parser writes it', async (raw, url) => {
    const resolveHost = resolvesTo({ 'hooks.partner.test': ['93.184.215.14'] });
    expect(await checkWebhookUrl(raw, strict(resolveHost))).toEqual({ ok: true, url });
  });

  it.each([
    ['not a url'],
    ['/relative/path'],
    ['ftp://93.184.215.14/x'],
    ['javascript:alert(1)'],
    ['https://user:secret@93.184.215.14/x'],
    ['https://user@93.184.215.14/x'],
    [`https://93.184.215.14/${'a'.repeat(2048)}`],
    ['http://'],
  ])('refuses %j as malformed', async (raw) => {
    expect(await checkWebhookUrl(raw, strict())).toEqual({ ok: false, problem: 'malformed' });
  });

  it('accepts a URL of exactly 2048 characters', async () => {
    const base = 'https://93.184.215.14/';
    const raw = base + 'a'.repeat(2048 - base.length);
    expect(await checkWebhookUrl(raw, strict())).toEqual({ ok: true, url: raw });
  });

  it.each([
    ['http://127.0.0.1:3000/hook', '127.0.0.1 is a loopback address'],
    ['http://0x7f.1/hook', '127.0.0.1 is a loopback address'],
    ['http://2130706433/hook', '127.0.0.1 is a loopback address'],
    ['http://[::1]/hook', '[::1] is a loopback address'],
    ['http://[::ffff:127.0.0.1]/hook', '[::ffff:7f00:1] is a loopback address'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254 is a link-local address'],
    ['http://[fd00:ec2::254]/', '[fd00:ec2::254] is a unique local (private) address'],
    ['http://10.1.2.3/', '10.1.2.3 is a private address'],
    ['http://100.64.1.1/', '100.64.1.1 is a carrier-grade NAT address'],
    ['http://0.0.0.0/', '0.0.0.0 is an unspecified address'],
    ['http://[::]/', '[::] is an unspecified address'],
  ])('refuses the literal address of %s: %s', async (raw, reason) => {
    expect(await checkWebhookUrl(raw, strict())).toEqual({ ok: false, problem: 'not_public', reason });
  });

  it('refuses a hostname that resolves only to non-public addresses, naming one', async () => {
    const resolveHost = resolvesTo({ 'internal.partner.test': ['10.0.0.5', 'fd00::5'] });
    expect(await checkWebhookUrl('https://internal.partner.test/x', strict(resolveHost))).toEqual({
      ok: false,
      problem: 'not_public',
      reason: 'internal.partner.test resolves only to addresses webhooks may not reach (10.0.0.5 is a private address)',
    });
  });

  it('accepts a hostname with at least one public address (delivery connects only to those)', async () => {
    const resolveHost = resolvesTo({ 'mixed.partner.test': ['10.0.0.5', '93.184.215.14'] });
    expect(await checkWebhookUrl('https://mixed.partner.test/', strict(resolveHost))).toMatchObject({ ok: true });
  });

  it('refuses localhost through the system resolver', async () => {
    expect(await checkWebhookUrl('http://localhost:8080/hook', strict())).toMatchObject({
      ok: false,
      problem: 'not_public',
      reason: expect.stringMatching(/^localhost resolves only to addresses webhooks may not reach \(.* loopback/),
    });
  });

  it('lets through a hostname that does not resolve, or not in time', async () => {
    expect(await checkWebhookUrl('https://nowhere.partner.test/', strict(resolvesTo({})))).toMatchObject({ ok: true });
    const never: ResolveHost = () => new Promise(() => undefined);
    const started = Date.now();
    expect(await checkWebhookUrl('https://slow.partner.test/', strict(never))).toMatchObject({ ok: true });
    expect(Date.now() - started).toBeLessThan(RESOLVE_TIMEOUT_MS + 1000);
  });

  it('with allowPrivate, accepts loopback and private addresses but still refuses malformed URLs', async () => {
    const options = { allowPrivate: true };
    expect(await checkWebhookUrl('http://127.0.0.1:3000/hook', options)).toMatchObject({ ok: true });
    expect(await checkWebhookUrl('http://localhost/hook', options)).toMatchObject({ ok: true });
    expect(await checkWebhookUrl('ftp://127.0.0.1/', options)).toEqual({ ok: false, problem: 'malformed' });
  });
});
