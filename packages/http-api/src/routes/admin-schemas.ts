/** The bodies of the console's admin routes (/v1/admin/...), their examples, and how the figures are shown. */
import { Type, type TSchema } from '@sinclair/typebox';
import {
  ACTIVITY_SECONDS,
  DEFAULT_PARTNER_WINDOW,
  PARTNER_WINDOWS,
  RATE_SECONDS,
  type EventActivity,
  type EventOverview,
  type FailingWebhook,
  type PartnerOverview,
  type PartnerWindow,
  type SellingRate,
} from '@ticketboss/domain';
import { EventSummaryBody, eventSummaryBody, PageQuery, pageQueryMessages } from './schemas.js';

const partnerWindows = Object.keys(PARTNER_WINDOWS) as PartnerWindow[];

export const adminFieldMessages = {
  seconds: `seconds must be a whole number from 1 to ${ACTIVITY_SECONDS}`,
  window: `window must be one of ${partnerWindows.join(', ')}`,
  ...pageQueryMessages,
};

/** Every answer of the console's routes: the figures change every second, and no cache may keep them. */
export function notStored<T extends TSchema>(schema: T): T {
  const headers = {
    'Cache-Control': { type: 'string', enum: ['no-store'], description: 'Always `no-store`: live figures' },
  };
  return { ...schema, headers };
}
export const NO_STORE = 'no-store';

const DateTime = Type.String({ format: 'date-time' });
const orNull = <T extends TSchema>(schema: T, description: string) =>
  Type.Union([schema, Type.Null()], { description });
const iso = (date: Date | null) => date?.toISOString() ?? null;

const [summaryExample] = EventSummaryBody.examples as [Record<string, unknown>];

const sellingRate = {
  seatsPerMinute: Type.Number({
    description: `Seats sold per minute over the last ${RATE_SECONDS} seconds: reserved at once, plus holds confirmed`,
  }),
  netSeatsPerMinute: Type.Number({
    description:
      `Seats taken minus seats returned per minute over the last ${RATE_SECONDS} seconds: reserved and held, ` +
      'minus cancelled and expired (capacity changes left out)',
  }),
  lastSaleAt: orNull(
    DateTime,
    'The last sale (reserved at once, or a hold confirmed), however long ago; null if the event never sold',
  ),
};

const sellingRateBody = (rate: SellingRate) => ({
  seatsPerMinute: rate.seatsPerMinute,
  netSeatsPerMinute: rate.netSeatsPerMinute,
  lastSaleAt: iso(rate.lastSaleAt),
});

const rateExample = { seatsPerMinute: 12, netSeatsPerMinute: 14, lastSaleAt: '2025-11-25T11:38:19.427Z' };

export const EventOverviewBody = Type.Object(
  { ...EventSummaryBody.properties, ...sellingRate },
  { examples: [{ ...summaryExample, ...rateExample }] },
);

export const eventOverviewBody = (overview: EventOverview) => ({
  ...eventSummaryBody(overview.summary),
  ...sellingRateBody(overview),
});

export const EventsQuery = Type.Object(PageQuery);

export const ActivityParams = Type.Object({ eventId: Type.String({ examples: ['jazz-night'] }) });

export const ActivityQuery = Type.Object({
  seconds: Type.Optional(
    Type.String({
      pattern: `^([1-9][0-9]?|[1-8][0-9][0-9]|${ACTIVITY_SECONDS})$`,
      description: `How many seconds back, 1 to ${ACTIVITY_SECONDS}; default ${ACTIVITY_SECONDS}`,
    }),
  ),
});

export const activitySeconds = (seconds: string | undefined) =>
  seconds === undefined ? ACTIVITY_SECONDS : Number(seconds);

const PerSecond = (description: string) => Type.Array(Type.Integer({ minimum: 0 }), { description });

export const EventActivityBody = Type.Object(
  {
    event: EventSummaryBody,
    asOf: Type.String({ format: 'date-time', description: "The database's time of the snapshot" }),
    ...sellingRate,
    estimatedSellOutAt: orNull(
      DateTime,
      'When the available seats run out at netSeatsPerMinute; null when that rate is not above 0 or none are left',
    ),
    series: Type.Object(
      {
        at: Type.Array(Type.Integer(), {
          description: 'Start of each second, as Unix seconds, oldest first; the last is the current second',
        }),
        reservations: PerSecond('Reservations confirmed at once'),
        cancellations: PerSecond('Reservations and live holds cancelled'),
        holdsTaken: PerSecond('Holds taken'),
        holdsExpired: PerSecond('Holds whose expiresAt fell in that second'),
        holdsConfirmed: PerSecond('Holds confirmed'),
        availableSeats: Type.Array(Type.Union([Type.Integer(), Type.Null()]), {
          description:
            'Available seats at the end of that second (the last: now, as `event.availableSeats`); null before ' +
            'the event existed',
        }),
      },
      { description: 'One entry per second in every array, columns as charts take them' },
    ),
  },
  {
    examples: [
      {
        event: summaryExample,
        asOf: '2025-11-25T11:38:21.412Z',
        ...rateExample,
        estimatedSellOutAt: '2025-11-25T11:45:04.000Z',
        series: {
          at: [1764070699, 1764070700, 1764070701],
          reservations: [1, 0, 0],
          cancellations: [0, 0, 0],
          holdsTaken: [0, 1, 0],
          holdsExpired: [0, 0, 0],
          holdsConfirmed: [0, 0, 0],
          availableSeats: [98, 94, 94],
        },
      },
    ],
  },
);

export function eventActivityBody(activity: EventActivity) {
  return {
    event: eventSummaryBody(activity.summary),
    asOf: activity.asOf.toISOString(),
    ...sellingRateBody(activity),
    estimatedSellOutAt: iso(activity.estimatedSellOutAt),
    series: {
      at: [...activity.at],
      reservations: [...activity.reservations],
      cancellations: [...activity.cancellations],
      holdsTaken: [...activity.holdsTaken],
      holdsExpired: [...activity.holdsExpired],
      holdsConfirmed: [...activity.holdsConfirmed],
      availableSeats: [...activity.availableSeats],
    },
  };
}

export const PartnersQuery = Type.Object({
  window: Type.Optional(
    Type.Union(
      partnerWindows.map((window) => Type.Literal(window)),
      {
        description:
          `Over how long: ${partnerWindows.join(', ')}; default ${DEFAULT_PARTNER_WINDOW}. Counted in whole ` +
          'minutes, from the start of the minute that long ago',
      },
    ),
  ),
  ...PageQuery,
});

const FailingWebhookBody = Type.Object({
  webhookId: Type.String({ format: 'uuid' }),
  url: Type.String(),
  enabled: Type.Boolean(),
  failingSince: orNull(DateTime, 'Since when every attempt has failed'),
  disabledReason: orNull(Type.String(), 'Why TicketBoss disabled the endpoint; null while it is enabled'),
  lastError: orNull(Type.String(), 'What went wrong at the last attempt (`HTTP <status>` for an answer)'),
  lastAttemptAt: orNull(DateTime, 'When the last attempt was made'),
});

export const PartnerOverviewBody = Type.Object(
  {
    partnerId: Type.String(),
    name: Type.String(),
    requests: Type.Integer({ description: 'Requests answered with its API keys' }),
    reservations: Type.Integer({ description: 'New reservations and holds (a replay of an Idempotency-Key is not)' }),
    seats: Type.Integer({ description: 'Their seats' }),
    refusals: Type.Integer({
      description: 'Reservations and holds refused for lack of seats (409 INSUFFICIENT_SEATS)',
    }),
    rateLimited: Type.Integer({ description: 'Requests refused by the rate limit (429)' }),
    lastRequestAt: orNull(DateTime, 'The last request in the window; null when none'),
    failingWebhooks: Type.Array(FailingWebhookBody, {
      description: 'Its enabled endpoints whose attempts all fail, and those TicketBoss disabled, oldest failure first',
    }),
  },
  {
    examples: [
      {
        partnerId: 'acme',
        name: 'Acme Tickets',
        requests: 1840,
        reservations: 212,
        seats: 530,
        refusals: 9,
        rateLimited: 31,
        lastRequestAt: '2025-11-25T11:38:19.016Z',
        failingWebhooks: [
          {
            webhookId: '7d5f0c1e-3b2a-4e8f-9c6d-1a2b3c4d5e6f',
            url: 'https://hooks.acme.example/ticketboss',
            enabled: true,
            failingSince: '2025-11-25T10:02:44.120Z',
            disabledReason: null,
            lastError: 'HTTP 503',
            lastAttemptAt: '2025-11-25T11:37:02.881Z',
          },
        ],
      },
    ],
  },
);

const failingWebhookBody = (webhook: FailingWebhook) => ({
  webhookId: webhook.webhookId,
  url: webhook.url,
  enabled: webhook.enabled,
  failingSince: iso(webhook.failingSince),
  disabledReason: webhook.disabledReason,
  lastError: webhook.lastError,
  lastAttemptAt: iso(webhook.lastAttemptAt),
});

export const partnerOverviewBody = (overview: PartnerOverview) => ({
  partnerId: overview.partnerId,
  name: overview.name,
  requests: overview.requests,
  reservations: overview.reservations,
  seats: overview.seats,
  refusals: overview.refusals,
  rateLimited: overview.rateLimited,
  lastRequestAt: iso(overview.lastRequestAt),
  failingWebhooks: overview.failingWebhooks.map(failingWebhookBody),
});
