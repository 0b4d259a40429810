import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyHelmetOptions } from '@fastify/helmet';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * The security headers of every answer, set by @fastify/helmet: its defaults (X-Content-Type-Options: nosniff,
 * Referrer-Policy: no-referrer, Cross-Origin-Opener- and -Resource-Policy, ...), with these changes:
 * - a Content-Security-Policy for JSON: nothing may load, nothing may frame it;
 * - X-Frame-Options: DENY, for browsers that know no frame-ancestors;
 * - Strict-Transport-Security without includeSubDomains: the API cannot know whether its domain's other hosts all
 *   speak HTTPS. (Browsers ignore the header on plain HTTP, so a local run over HTTP is unaffected.)
 */
export const apiSecurityHeaders: FastifyHelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      'default-src': ["'none'"],
      'base-uri': ["'none'"],
      'form-action': ["'none'"],
      'frame-ancestors': ["'none'"],
    },
  },
  frameguard: { action: 'deny' },
  strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: false },
};

/**
 * The docs page (/docs, Swagger UI, every asset served from here): scripts, styles, fonts and the OpenAPI
 * document from this origin only (images may also be data: URLs, as Swagger UI's icons are), no inline script
 * (inline styles only), no plug-ins, no framing. No `upgrade-insecure-requests`: the page must work on a plain-HTTP local run too.
 */
export const docsSecurityHeaders: FastifyHelmetOptions = {
  ...apiSecurityHeaders,
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      'default-src': ["'self'"],
      'base-uri': ["'self'"],
      'connect-src': ["'self'"],
      'font-src': ["'self'", 'data:'],
      'form-action': ["'self'"],
      'frame-ancestors': ["'none'"],
      'img-src': ["'self'", 'data:'],
      'object-src': ["'none'"],
      'script-src': ["'self'"],
      'script-src-attr': ["'none'"],
      // Swagger UI sets style attributes as it renders (helmet's default allows them too); styles run no code.
      'style-src': ["'self'", "'unsafe-inline'"],
    },
  },
};

/**
 * The operator console (/console): stricter than the docs page, since every file is its own. Scripts, styles and
 * fetches from this origin only; no inline script, no inline style (the page and uPlot set styles through the
 * CSSOM, which style-src does not govern); no plug-ins, no <base>, no form submission (the token form is handled by
 * script, and a submission without it could put the token in a URL), no framing. Trusted Types are required for
 * script sinks (innerHTML and the like): the page uses none, so a string can never become markup or code.
 */
export const consoleSecurityHeaders: FastifyHelmetOptions = {
  ...apiSecurityHeaders,
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      'default-src': ["'self'"],
      'base-uri': ["'none'"],
      'connect-src': ["'self'"],
      'form-action': ["'none'"],
      'frame-ancestors': ["'none'"],
      'img-src': ["'self'", 'data:'],
      'object-src': ["'none'"],
      'script-src': ["'self'"],
      'script-src-attr': ["'none'"],
      'style-src': ["'self'"],
      'require-trusted-types-for': ["'script'"],
    },
  },
};

/**
 * The headers of apiSecurityHeaders as helmet writes them, for the answers that no hook sees: a URL that cannot be
 * decoded (frameworkErrors) and the answers written on the raw socket. Computed once, by helmet itself.
 */
export const apiSecurityHeaderValues: Readonly<Record<string, string>> = headersOf(apiSecurityHeaders);

function headersOf({ enableCSPNonces: _nonces, global: _global, ...options }: FastifyHelmetOptions) {
  const headers: Record<string, string> = {};
  const response = {
    setHeader(name: string, value: string) {
      headers[name.toLowerCase()] = value;
    },
    removeHeader() {},
  };
  // The cast bridges one declaration file read twice: as CommonJS through @fastify/helmet, as ESM here.
  helmet(options as HelmetOptions)({} as IncomingMessage, response as unknown as ServerResponse, () => {});
  return headers;
}
