import type { PartnerPrincipal, PartnerService } from '@ticketboss/domain';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isAdminToken } from '../server/api-keys.js';
import { apiErrors, sendError } from './errors.js';
import { setRateLimitHeaders, type RateLimiter, type RateLimitPolicy } from './rate-limit.js';

/**
 * Who may call a route: `open` anyone; `any` the admin or a partner; `admin` the admin token only; `partner` a
 * partner's API key only.
 */
export type Access = 'open' | 'any' | 'admin' | 'partner';

export type Principal = { readonly kind: 'admin' } | ({ readonly kind: 'partner' } & PartnerPrincipal);

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
    /**
     * Not counted by the rate limit when let in (probes, the admin's scrape); a request the route refuses (401,
     * 403) is counted as anywhere else.
     */
    unlimited?: boolean;
  }
  interface FastifyRequest {
    principal: Principal | undefined;
  }
}

export interface RateLimit {
  readonly limiter: RateLimiter;
  readonly policy: RateLimitPolicy;
}

export interface AccessDeps {
  readonly partners: PartnerService;
  /** SHA-256 of TICKETBOSS_ADMIN_TOKEN; without it no request is the admin. */
  readonly adminTokenHash: Buffer | undefined;
  /** Absent: no rate limit. */
  readonly rateLimit?: RateLimit;
}

const BEARER = /^Bearer +(\S+) *$/i;

/** The partner the request speaks for; only called on routes whose access is `partner`. */
export function partnerOf(request: FastifyRequest): PartnerPrincipal {
  const principal = request.principal;
  if (principal?.kind !== 'partner') throw new Error('partnerOf called on a route that is not partner-only');
  return principal;
}

/**
 * Authentication, rate limiting and authorisation, in that order, before the body is even read: a request is
 * counted against its partner, whichever of the partner's keys it carries (or against its client address when it
 * has no valid key, or on open routes), so a flood of bad tokens is limited per address; then a route that needs a
 * token answers 401 without one, 403 with the wrong kind. A well-formed token is looked up before it is counted
 * (one query, shared by the requests that arrive together); malformed ones never reach the database. Routes marked
 * `unlimited` count only the requests they refuse.
 */
export function installAccessControl(app: FastifyInstance, deps: AccessDeps): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (request, reply) => {
    const { access = 'open', unlimited = false } = request.routeOptions.config;
    if (access !== 'open') request.principal = await authenticate(request, deps);
    const refusal = access === 'open' ? undefined : refusalOf(request.principal, access, deps);
    // An unlimited route (a probe, the admin's scrape) does not count the callers it lets in; its refusals count
    // all the same, so that guessing the admin token on /metrics is throttled like anywhere else.
    if (deps.rateLimit && (!unlimited || refusal)) {
      if (!(await withinRateLimit(request, reply, deps.rateLimit))) return sendError(reply, apiErrors.rateLimited);
    }
    if (refusal) return sendError(reply, refusal);
  });
}

/** Why a route that needs a token refuses the request, or undefined when it may go on. */
function refusalOf(principal: Principal | undefined, access: Exclude<Access, 'open'>, deps: AccessDeps) {
  // With no admin token configured, nobody can be the admin: admin routes answer 401 to every caller.
  if (!principal || (access === 'admin' && !deps.adminTokenHash)) return apiErrors.unauthorized;
  if (access === 'admin' && principal.kind !== 'admin') return apiErrors.adminOnly;
  if (access === 'partner' && principal.kind !== 'partner') return apiErrors.partnerOnly;
  return undefined;
}

async function authenticate(request: FastifyRequest, deps: AccessDeps): Promise<Principal | undefined> {
  const token = BEARER.exec(request.headers.authorization ?? '')?.[1];
  if (token === undefined) return undefined;
  if (isAdminToken(token, deps.adminTokenHash)) return { kind: 'admin' };
  const partner = await deps.partners.authenticate(token);
  return partner && { kind: 'partner', ...partner };
}

/**
 * The bucket a request is counted in: `partner:<partnerId>`, one for all of a partner's keys (so adding keys does
 * not add budget); `admin`; or `ip:<address>`, the client's address as `trustProxy` decides it. In Redis each is
 * stored under the limiter's prefix (`ticketboss:rl:partner:acme`); docs/operations.md lists them.
 */
export function rateLimitKey(principal: Principal | undefined, ip: string): string {
  if (principal?.kind === 'partner') return `partner:${principal.partnerId}`;
  return principal ? 'admin' : `ip:${ip}`;
}

/**
 * Counts the request and sets the RateLimit headers; false when it is over the limit. (It returns a boolean, not
 * the reply of a refusal: a reply is thenable, so an async function returning one resolves only when the answer
 * has gone, to undefined, and the caller would go on to answer a second time.)
 */
async function withinRateLimit(request: FastifyRequest, reply: FastifyReply, { limiter, policy }: RateLimit) {
  const principal = request.principal;
  const decision = await limiter.consume(rateLimitKey(principal, request.ip));
  setRateLimitHeaders(reply, principal ? 'per-partner' : 'per-address', policy, decision);
  return decision.allowed;
}
