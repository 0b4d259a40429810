/** The commands, run through the same use cases as the HTTP API, each with its answer. */
import {
  MAX_EVENT_NAME_LENGTH,
  MAX_PARTNER_NAME_LENGTH,
  MAX_SEATS_PER_RESERVATION_LIMIT,
  MAX_TOTAL_SEATS,
  type EventField,
  type EventService,
  type EventSummary,
  type PartnerService,
} from '@ticketboss/domain';
import { apiKeyBody, eventSummaryBody } from '../routes/schemas.js';
import { visiblePrefix } from '../server/api-keys.js';
import type { OpenDatabase } from '../server/database.js';
import type { Services } from '../server/services.js';
import { audit } from './audit.js';
import type { Command } from './command-line.js';
import { done, Failure, table, tokenText, type Answer } from './output.js';
import { failingWebhook, listWebhooks } from './webhooks.js';

export function execute(command: Command, services: Services, database: OpenDatabase): Promise<Answer> {
  switch (command.name) {
    case 'partners create':
      return createPartner(services.partners, command);
    case 'partners list':
      return listPartners(services.partners);
    case 'keys create':
      return createKey(services.partners, command.partnerId);
    case 'keys list':
      return listKeys(services.partners, command.partnerId);
    case 'keys revoke':
      return revokeKey(services.partners, command.partnerId, command.keyId);
    case 'events create':
      return createEvent(services.events, command);
    case 'events list':
      return listEvents(services.events);
    case 'webhooks list':
      return listWebhooks(services.webhooks, services.partners, command.partnerId);
    case 'webhooks failing':
      return failingWebhook(services.webhooks, services.partners, command);
    case 'audit':
      return audit(database.connectionString);
  }
}

const partnerFieldMessages = {
  partnerId: 'partnerId must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit',
  name: `the partner's name must be non-blank and at most ${MAX_PARTNER_NAME_LENGTH} characters`,
};

async function createPartner(
  partners: PartnerService,
  { partnerId, partnerName }: { partnerId: string; partnerName: string },
): Promise<Answer> {
  const outcome = await partners.createPartner({ partnerId, name: partnerName });
  switch (outcome.kind) {
    case 'created':
      return done(
        `created partner ${partnerId} ("${outcome.partner.name}")\n${tokenText(outcome.key, outcome.token)}`,
        { partnerId, name: outcome.partner.name, apiKey: apiKeyBody(outcome.key, outcome.token) },
      );
    case 'already_exists':
      throw new Failure('PARTNER_ALREADY_EXISTS', `partner ${partnerId} already exists`);
    case 'invalid':
      throw new Failure('VALIDATION_ERROR', partnerFieldMessages[outcome.field]);
  }
}

async function listPartners(partners: PartnerService): Promise<Answer> {
  const all = await partners.listPartners();
  const items = all.map((p) => ({ partnerId: p.partnerId, name: p.name, createdAt: p.createdAt.toISOString() }));
  const text = items.length
    ? table(
        ['PARTNER', 'CREATED', 'NAME'],
        items.map((p) => [p.partnerId, p.createdAt, p.name]),
      )
    : 'no partners\n';
  return done(text, { items });
}

async function createKey(partners: PartnerService, partnerId: string): Promise<Answer> {
  const outcome = await partners.issueKey(partnerId);
  switch (outcome.kind) {
    case 'issued':
      return done(
        `new API key for partner ${partnerId}; its other keys keep working until revoked\n${tokenText(outcome.key, outcome.token)}`,
        apiKeyBody(outcome.key, outcome.token),
      );
    case 'partner_not_found':
      throw new Failure('PARTNER_NOT_FOUND', `partner ${partnerId} not found`);
  }
}

async function listKeys(partners: PartnerService, partnerId: string): Promise<Answer> {
  const keys = await partners.listKeys(partnerId);
  if (!keys) throw new Failure('PARTNER_NOT_FOUND', `partner ${partnerId} not found`);
  const items = keys.map((key) => ({
    id: key.keyId,
    partnerId: key.partnerId,
    prefix: visiblePrefix(key.keyId),
    createdAt: key.createdAt.toISOString(),
    revokedAt: key.revokedAt?.toISOString() ?? null,
  }));
  const text = items.length
    ? table(
        ['KEY ID', 'PREFIX', 'CREATED', 'REVOKED'],
        items.map((key) => [key.id, key.prefix, key.createdAt, key.revokedAt ?? '-']),
      )
    : `partner ${partnerId} has no API keys\n`;
  return done(text, { items });
}

async function revokeKey(partners: PartnerService, partnerId: string, keyId: string): Promise<Answer> {
  const outcome = await partners.revokeKey(partnerId, keyId);
  switch (outcome.kind) {
    case 'revoked':
      return done(`revoked API key ${keyId} of partner ${partnerId}: it no longer works\n`, {
        id: keyId,
        partnerId,
        revoked: true,
      });
    case 'key_not_found':
      throw new Failure('API_KEY_NOT_FOUND', `partner ${partnerId} has no API key ${keyId}`);
  }
}

const eventFieldMessages: Record<EventField, string> = {
  eventId: '--id must be 1 to 64 lowercase letters, digits or "-", starting with a letter or digit',
  name: `--name must be non-blank and at most ${MAX_EVENT_NAME_LENGTH} characters`,
  totalSeats: `--seats must be a whole number from 0 to ${MAX_TOTAL_SEATS}`,
  maxSeatsPerReservation: `--max-per-reservation must be a whole number from 1 to ${MAX_SEATS_PER_RESERVATION_LIMIT}`,
};

async function createEvent(
  events: EventService,
  command: Extract<Command, { name: 'events create' }>,
): Promise<Answer> {
  const outcome = await events.createEvent({
    eventId: command.eventId,
    name: command.eventName,
    totalSeats: command.totalSeats,
    maxSeatsPerReservation: command.maxSeatsPerReservation,
  });
  switch (outcome.kind) {
    case 'created': {
      const { eventId, name, totalSeats, maxSeatsPerReservation } = outcome.event;
      return done(
        `created event ${eventId} ("${name}"): ${totalSeats} seats, at most ${maxSeatsPerReservation} per reservation\n`,
        eventSummaryBody(outcome.event),
      );
    }
    case 'already_exists':
      throw new Failure('EVENT_ALREADY_EXISTS', `event ${command.eventId} already exists`);
    case 'invalid':
      throw new Failure('VALIDATION_ERROR', eventFieldMessages[outcome.field]);
  }
}

async function listEvents(events: EventService): Promise<Answer> {
  const all: EventSummary[] = [];
  let after: string | undefined;
  do {
    const page = await events.listEvents({ limit: 100, after });
    all.push(...page.items);
    after = page.next;
  } while (after !== undefined);
  const text = all.length
    ? table(
        ['EVENT', 'TOTAL', 'AVAILABLE', 'RESERVED', 'RESERVATIONS', 'MAX/RESERVATION', 'VERSION', 'NAME'],
        all.map((e) =>
          [e.eventId, e.totalSeats, e.availableSeats, e.reservedSeats, e.reservationCount]
            .concat([e.maxSeatsPerReservation, e.version])
            .map(String)
            .concat(e.name),
        ),
      )
    : 'no events\n';
  return done(text, { items: all.map(eventSummaryBody) });
}
