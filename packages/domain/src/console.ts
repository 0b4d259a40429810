import type { EventSummary } from './event.js';
import type { Page, PagePosition } from './ports.js';

/**
 * The operator console (`/console` and the `/v1/admin/...` routes it reads): what is selling, what is held, who is
 * driving the load. Every figure comes from the database (see migrations/0007_console.sql), so any API process
 * answers the same. `ConsoleStore` is the port the Postgres adapter implements.
 */

/** Seconds of the live view of one event, at one-second resolution. */
export const ACTIVITY_SECONDS = 900;
/** Over how many seconds the selling rates and the sell-out estimate are taken. */
export const RATE_SECONDS = 60;

/** The windows the partners table can be asked for, in seconds. */
export const PARTNER_WINDOWS = { '15m': 900, '1h': 3600, '6h': 21_600, '24h': 86_400 } as const;
export type PartnerWindow = keyof typeof PARTNER_WINDOWS;
export const DEFAULT_PARTNER_WINDOW: PartnerWindow = '15m';

export function isPartnerWindow(value: string): value is PartnerWindow {
  return Object.hasOwn(PARTNER_WINDOWS, value);
}

/** How long the rollups keep their rows: the sweeper prunes older ones. */
export const EVENT_ACTIVITY_RETENTION_MS = 60 * 60 * 1000;
export const PARTNER_ACTIVITY_RETENTION_MS = 24 * 60 * 60 * 1000;

/** An event's selling rates over the last RATE_SECONDS. */
export interface SellingRate {
  /** Seats sold per minute: seats of reservations confirmed at once plus seats of holds confirmed. */
  readonly seatsPerMinute: number;
  /**
   * Seats taken minus seats returned per minute: reserved and held, minus cancelled and expired (capacity changes
   * left out). What the sell-out estimate divides the available seats by.
   */
  readonly netSeatsPerMinute: number;
  /**
   * The last sale (a reservation confirmed at once, or a hold confirmed), however long ago: kept with the event's
   * seats, not in the rollups, so their retention does not limit it; null if the event never sold.
   */
  readonly lastSaleAt: Date | null;
}

/** A line of the events list: the summary GET /v1/events/:eventId gives, with its selling rate. */
export interface EventOverview extends SellingRate {
  readonly summary: EventSummary;
}

/**
 * One event's last `seconds` seconds, one entry per second, oldest first, the last being the current second (still
 * filling). All read in one snapshot: `summary` is what GET /v1/events/:eventId answers at that moment, and the
 * last `availableSeats` equals `summary.availableSeats`.
 */
export interface EventActivity extends SellingRate {
  readonly summary: EventSummary;
  /** The database's time of the snapshot. */
  readonly asOf: Date;
  /** Start of each second, as Unix seconds. */
  readonly at: readonly number[];
  /** Reservations confirmed at once in that second. */
  readonly reservations: readonly number[];
  /** Reservations and live holds cancelled. */
  readonly cancellations: readonly number[];
  readonly holdsTaken: readonly number[];
  /** Holds whose expiresAt fell in that second. */
  readonly holdsExpired: readonly number[];
  readonly holdsConfirmed: readonly number[];
  /** Available seats at the end of that second (the current one: now); null before the event existed. */
  readonly availableSeats: readonly (number | null)[];
  /** When the available seats run out at netSeatsPerMinute; null when that rate is not above 0 or none are left. */
  readonly estimatedSellOutAt: Date | null;
}

/** A failing webhook endpoint of a partner: every attempt failing since `failingSince`, or disabled by TicketBoss. */
export interface FailingWebhook {
  readonly webhookId: string;
  readonly url: string;
  readonly enabled: boolean;
  readonly failingSince: Date | null;
  readonly disabledReason: string | null;
  /** The last attempt's error (or `HTTP <status>`), and when it was made; null when none was made. */
  readonly lastError: string | null;
  readonly lastAttemptAt: Date | null;
}

/** A line of the partners table, over the window asked for. */
export interface PartnerOverview {
  readonly partnerId: string;
  readonly name: string;
  readonly requests: number;
  /** New reservations and holds. */
  readonly reservations: number;
  readonly seats: number;
  /** Reservations and holds refused for lack of seats (409 INSUFFICIENT_SEATS). */
  readonly refusals: number;
  /** Requests refused by the rate limit (429). */
  readonly rateLimited: number;
  /** The last request in the window; null when none. */
  readonly lastRequestAt: Date | null;
  /** Its enabled endpoints failing and its endpoints TicketBoss disabled, oldest failure first. */
  readonly failingWebhooks: readonly FailingWebhook[];
}

/** What one process counted for one partner in one minute, added to the database by its next flush. */
export interface PartnerActivityCount {
  readonly partnerId: string;
  /** Start of the minute. */
  readonly minute: Date;
  readonly requests: number;
  readonly reservations: number;
  readonly seats: number;
  readonly refusals: number;
  readonly rateLimited: number;
  readonly lastRequestAt: Date;
}

export interface ConsoleStore {
  /** Events busiest first (seatsPerMinute, then netSeatsPerMinute, both descending), then by id. */
  listEventOverviews(query: { readonly limit: number; readonly after?: PagePosition }): Promise<Page<EventOverview>>;
  /** The event's last `seconds` seconds (1 to ACTIVITY_SECONDS); undefined if there is no such event. */
  eventActivity(eventId: string, seconds: number): Promise<EventActivity | undefined>;
  /** Partners most requests first, then by id, over the window. */
  listPartnerOverviews(query: {
    readonly window: PartnerWindow;
    readonly limit: number;
    readonly after?: PagePosition;
  }): Promise<Page<PartnerOverview>>;
  /** Adds the counts to the minutes' rows (several processes add to the same rows). */
  addPartnerActivity(counts: readonly PartnerActivityCount[]): Promise<void>;
  /**
   * Deletes rollup rows older than their retention, in batches, at most `maxBatches` per rollup (the adapter's
   * default if not given), leaving the rest to the next call; returns how many went.
   */
  pruneActivity(now: Date, maxBatches?: number): Promise<number>;
}
