import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PartnerService } from '@ticketboss/domain';

export const DEMO_PARTNER = { partnerId: 'demo', name: 'Demo partner' } as const;

export interface DemoAccess {
  readonly adminToken: string;
  /** Made by this start: shown once. */
  readonly newAdminToken: boolean;
  readonly adminTokenFile: string;
  /** Set only when this start made the demo partner: shown once. */
  readonly demoPartnerToken?: string;
}

/**
 * Embedded mode is for trying TicketBoss out, so it sets itself up. First the admin token: TICKETBOSS_ADMIN_TOKEN
 * wins; otherwise one is made on first start and kept in the data folder, readable by its owner only.
 */
export async function prepareAdminToken(
  dataDir: string,
  configuredAdminToken: string | undefined,
): Promise<DemoAccess> {
  const adminTokenFile = join(dataDir, 'admin-token');
  if (configuredAdminToken) return { adminToken: configuredAdminToken, newAdminToken: false, adminTokenFile };
  const kept = (await readFile(adminTokenFile, 'utf8').catch(() => '')).trim();
  if (kept) return { adminToken: kept, newAdminToken: false, adminTokenFile };
  const adminToken = randomBytes(24).toString('base64url');
  await writeFile(adminTokenFile, `${adminToken}\n`, { mode: 0o600 });
  return { adminToken, newAdminToken: true, adminTokenFile };
}

/**
 * Then the demo partner, made once, once the server listens (so that its key, shown only now, is never made by a
 * start that then fails).
 */
export async function addDemoPartner(access: DemoAccess, partners: PartnerService): Promise<DemoAccess> {
  const demo = await partners.createPartner(DEMO_PARTNER);
  return demo.kind === 'created' ? { ...access, demoPartnerToken: demo.token } : access;
}

/** What a first start prints: the tokens, once, as lines to paste, and requests that use them. */
export function firstStartBanner(access: DemoAccess, baseUrl: string, eventId: string): string {
  const lines = ['', 'TicketBoss is set up for a first try. These tokens are shown once; keep them:', ''];
  if (access.newAdminToken)
    lines.push(`  export ADMIN_TOKEN=${access.adminToken}    # also in ${access.adminTokenFile}`);
  if (access.demoPartnerToken) lines.push(`  export PARTNER_TOKEN=${access.demoPartnerToken}    # partner "demo"`);
  lines.push(
    '',
    'Then, for example:',
    '',
    `  curl -s -X POST ${baseUrl}/v1/events/${eventId}/reservations -H "Authorization: Bearer $PARTNER_TOKEN" \\`,
    `    -H 'Content-Type: application/json' -d '{"seats": 2}'`,
    `  curl -s ${baseUrl}/v1/events -H "Authorization: Bearer $ADMIN_TOKEN"`,
    '',
  );
  return lines.join('\n');
}
