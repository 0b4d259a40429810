import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PartnerService } from '@ticketboss/domain';

export const DEMO_PARTNER = { partnerId: 'demo', name: 'Demo partner' } as const;

export interface DemoAccess {
  readonly adminToken: string;
  /** Set only when made by this start: shown once. */
  readonly newAdminToken: boolean;
  readonly demoPartnerToken: string | undefined;
  readonly adminTokenFile: string;
}

/**
 * Embedded mode is for trying TicketBoss out, so it sets itself up: an admin token (TICKETBOSS_ADMIN_TOKEN wins;
 * otherwise one is made on first start and kept in the data folder, readable by its owner only) and a demo
 * partner whose key is made on first start. Tokens made here are printed once, by the caller.
 */
export async function prepareDemoAccess(
  dataDir: string,
  configuredAdminToken: string | undefined,
  partners: PartnerService,
): Promise<DemoAccess> {
  const adminTokenFile = join(dataDir, 'admin-token');
  let adminToken = configuredAdminToken;
  let newAdminToken = false;
  if (!adminToken) {
    adminToken = (await readFile(adminTokenFile, 'utf8').catch(() => '')).trim();
    if (!adminToken) {
      adminToken = randomBytes(24).toString('base64url');
      await writeFile(adminTokenFile, `${adminToken}\n`, { mode: 0o600 });
      newAdminToken = true;
    }
  }
  const demo = await partners.createPartner(DEMO_PARTNER);
  return {
    adminToken,
    newAdminToken,
    demoPartnerToken: demo.kind === 'created' ? demo.token : undefined,
    adminTokenFile,
  };
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
