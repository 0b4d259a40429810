// @ts-check
/**
 * The operator console: reads /v1/admin/... with the admin token and shows what is selling, what is held and who
 * is driving the load. Plain DOM: every piece of data goes in through textContent, an attribute or element.style,
 * never through markup (the page's Content-Security-Policy requires Trusted Types for such sinks, and there are
 * none). Polling, not server-sent events: EventSource cannot send an Authorization header, and the token must not
 * go in a URL or a cookie; any API process can answer any poll, since the figures are in the database.
 */

/** @typedef {{ eventId: string, name: string, totalSeats: number, availableSeats: number, reservedSeats: number, heldSeats: number, reservationCount: number, maxSeatsPerReservation: number, version: number }} EventSummary */
/** @typedef {{ seatsPerMinute: number, netSeatsPerMinute: number, lastSaleAt: string | null }} SellingRate */
/** @typedef {EventSummary & SellingRate} EventOverview */
/** @typedef {{ at: number[], reservations: number[], cancellations: number[], holdsTaken: number[], holdsExpired: number[], holdsConfirmed: number[], availableSeats: (number | null)[] }} ActivitySeries */
/** @typedef {SellingRate & { event: EventSummary, asOf: string, estimatedSellOutAt: string | null, series: ActivitySeries }} EventActivity */
/** @typedef {{ webhookId: string, url: string, enabled: boolean, failingSince: string | null, disabledReason: string | null, lastError: string | null, lastAttemptAt: string | null }} FailingWebhook */
/** @typedef {{ partnerId: string, name: string, requests: number, reservations: number, seats: number, refusals: number, rateLimited: number, lastRequestAt: string | null, failingWebhooks: FailingWebhook[] }} PartnerOverview */
/**
 * @template T
 * @typedef {{ items: T[], nextCursor: string | null }} Page
 */

/** uPlot's browser build, loaded by its own script element before this module runs. */
const uPlot = /** @type {{ uPlot: typeof import('uplot') }} */ (/** @type {unknown} */ (globalThis)).uPlot;

/** The one place the token is kept: this tab's session storage, gone when the tab closes. */
const TOKEN_KEY = 'ticketboss.console.adminToken';
const EVENTS_EVERY_MS = 5000;
const ACTIVITY_EVERY_MS = 1000;
const PARTNERS_EVERY_MS = 5000;
const PAGE_SIZE = 20;
const ACTIVITY_SECONDS = 900;

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @param {{ new (): T }} type
 * @returns {T}
 */
function byId(id, type) {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`the page has no ${type.name} #${id}`);
  return element;
}

/** @param {string} testId */
function byTestId(testId) {
  const element = document.querySelector(`[data-testid="${testId}"]`);
  if (!(element instanceof HTMLElement)) throw new Error(`the page has no [data-testid="${testId}"]`);
  return element;
}

const page = {
  tokenForm: byId('token-form', HTMLFormElement),
  tokenInput: byId('token-input', HTMLInputElement),
  tokenMessage: byId('token-message', HTMLElement),
  forget: byId('forget-token', HTMLButtonElement),
  console: byId('console', HTMLElement),
  events: {
    rows: byId('events-rows', HTMLTableSectionElement),
    status: byTestId('events-status'),
    previous: byId('events-previous', HTMLButtonElement),
    next: byId('events-next', HTMLButtonElement),
  },
  event: {
    section: byId('event', HTMLElement),
    title: byId('event-title', HTMLElement),
    status: byTestId('event-status'),
    close: byId('event-close', HTMLButtonElement),
    available: byTestId('event-available'),
    reserved: byTestId('event-reserved'),
    held: byTestId('event-held'),
    total: byTestId('event-total'),
    seatsPerMinute: byTestId('event-seats-per-minute'),
    lastSale: byTestId('event-last-sale'),
    sellOut: byTestId('event-sell-out'),
    activityChart: byId('activity-chart', HTMLElement),
    availableChart: byId('available-chart', HTMLElement),
  },
  partners: {
    rows: byId('partners-rows', HTMLTableSectionElement),
    status: byTestId('partners-status'),
    window: byId('partners-window', HTMLSelectElement),
    previous: byId('partners-previous', HTMLButtonElement),
    next: byId('partners-next', HTMLButtonElement),
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Talking to the API

/** The admin routes refused the token (401 or 403): the page forgets it and asks again. */
class TokenRefused extends Error {}

/** Any other answer than 2xx, or no answer: shown on the part it concerns, which keeps polling. */
class RequestFailed extends Error {}

/**
 * GETs an admin route with the token; the JSON body of a 2xx answer.
 * @param {string} path
 * @returns {Promise<unknown>}
 */
async function getJson(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token === null) throw new TokenRefused('no token');
  /** @type {Response} */
  let response;
  try {
    response = await fetch(path, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      cache: 'no-store',
      credentials: 'omit',
      redirect: 'error',
    });
  } catch {
    throw new RequestFailed('The server cannot be reached');
  }
  if (response.ok) {
    /** @type {unknown} */
    const body = await response.json();
    return body;
  }
  const { error, code } = await errorBody(response);
  if (response.status === 401 || response.status === 403) {
    // Only the token this request carried is forgotten: a new one may have been entered meanwhile.
    if (sessionStorage.getItem(TOKEN_KEY) === token) refuseToken(error ?? `HTTP ${response.status}`);
    throw new TokenRefused(code ?? String(response.status));
  }
  const retry = response.headers.get('retry-after');
  throw new RequestFailed(
    `${response.status}${code ? ` ${code}` : ''}: ${error ?? response.statusText}` +
      (retry ? `; retrying (the server asks for ${retry} s)` : '; retrying'),
  );
}

/**
 * @param {Response} response
 * @returns {Promise<{ error?: string, code?: string }>}
 */
async function errorBody(response) {
  try {
    const body = /** @type {unknown} */ (await response.json());
    if (typeof body !== 'object' || body === null) return {};
    const { error, code } = /** @type {{ error?: unknown, code?: unknown }} */ (body);
    return {
      error: typeof error === 'string' ? error : undefined,
      code: typeof code === 'string' ? code : undefined,
    };
  } catch {
    return {};
  }
}

/**
 * @param {string} path
 * @param {Record<string, string | undefined>} query
 */
function withQuery(path, query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, value);
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

// ---------------------------------------------------------------------------------------------------------------
// Polling

/**
 * Runs `run` now and then every `everyMs` (counted from the start of the previous run, never two at once), while
 * started and while the tab is visible: a hidden tab asks nothing, and a tab shown again asks at once.
 */
class Poller {
  /**
   * @param {number} everyMs
   * @param {() => Promise<void>} run
   */
  constructor(everyMs, run) {
    this.everyMs = everyMs;
    this.run = run;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    this.active = false;
    this.running = false;
    this.again = false;
  }

  start() {
    this.active = true;
    this.now();
  }

  stop() {
    this.active = false;
    this.again = false;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Runs at once, or right after the run in flight (whose answer may be for what was shown before). */
  now() {
    if (!this.active) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running) {
      this.again = true;
      return;
    }
    if (document.visibilityState !== 'visible') return;
    this.running = true;
    const started = performance.now();
    this.run()
      .catch((error) => {
        // The run shows its own failures; this is only for the unexpected, and polling goes on.
        console.error(error);
      })
      .finally(() => {
        this.running = false;
        if (!this.active) return;
        if (this.again) {
          this.again = false;
          this.now();
          return;
        }
        const wait = Math.max(0, this.everyMs - (performance.now() - started));
        this.timer = setTimeout(() => this.now(), wait);
      });
  }
}

/**
 * Shows the outcome of one poll in its part's status line: nothing when it went well, else why it failed (the
 * figures shown stay, as of the last good answer).
 * @param {HTMLElement} status
 * @param {() => Promise<void>} run
 * @returns {Promise<void>}
 */
async function reporting(status, run) {
  try {
    await run();
    status.textContent = '';
    status.classList.remove('error');
  } catch (error) {
    if (error instanceof TokenRefused) return;
    status.textContent = error instanceof RequestFailed ? error.message : 'Something went wrong; retrying';
    status.classList.add('error');
    if (!(error instanceof RequestFailed)) throw error;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering helpers: elements and text only

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {{ className?: string, testId?: string, title?: string }} [options]
 * @param {(Node | string)[]} children
 * @returns {HTMLElementTagNameMap[K]}
 */
function h(tag, options = {}, ...children) {
  const element = document.createElement(tag);
  if (options.className) element.className = options.className;
  if (options.testId) element.dataset.testid = options.testId;
  if (options.title) element.title = options.title;
  // append() makes text nodes of strings: nothing is ever parsed as markup.
  element.append(...children);
  return element;
}

const numbers = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const clockTime = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateAndTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** @param {number} value */
const formatNumber = (value) => numbers.format(value);

/**
 * A <time> with the instant as its datetime attribute; the time of day alone when it is today.
 * @param {string} iso
 */
function timeElement(iso) {
  const date = new Date(iso);
  const today = date.toDateString() === new Date().toDateString();
  const time = h('time', { title: date.toISOString() }, (today ? clockTime : dateAndTime).format(date));
  time.dateTime = date.toISOString();
  return time;
}

/**
 * @param {HTMLElement} cell
 * @param {string | null} iso
 * @param {string} none
 */
function showTime(cell, iso, none) {
  cell.replaceChildren(iso === null ? none : timeElement(iso));
}

/**
 * Seconds as "45 s", "12 min", "3 h 5 min".
 * @param {number} seconds
 */
function duration(seconds) {
  if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/**
 * A number cell, right-aligned.
 * @param {number} value
 * @param {string} testId
 */
const numberCell = (value, testId) => h('td', { className: 'num', testId }, formatNumber(value));

/**
 * The event's seats as a bar: reserved, held and available as shares of the total, widths set through the CSSOM.
 * @param {EventSummary} event
 */
function seatBar(event) {
  const { totalSeats: total } = event;
  const bar = h('div', { className: 'bar' });
  bar.setAttribute('role', 'img');
  bar.setAttribute(
    'aria-label',
    `${event.reservedSeats} reserved, ${event.heldSeats} held, ${event.availableSeats} available of ${total}`,
  );
  bar.title = bar.getAttribute('aria-label') ?? '';
  /** @type {[string, number][]} */
  const parts = [
    ['reserved', event.reservedSeats],
    ['held', event.heldSeats],
    ['available', event.availableSeats],
  ];
  for (const [kind, seats] of parts) {
    const part = h('span', { className: `bar-part ${kind}` });
    part.style.width = total > 0 ? `${(100 * seats) / total}%` : '0%';
    bar.append(part);
  }
  return bar;
}

/**
 * @param {HTMLTableSectionElement} body
 * @param {number} columns
 * @param {string} text
 */
function emptyRow(body, columns, text) {
  const cell = h('td', { className: 'empty' }, text);
  cell.colSpan = columns;
  body.replaceChildren(h('tr', {}, cell));
}

/**
 * Cursor paging: the cursors of the pages before the current one, to go back; the current one; the next.
 */
class Pages {
  constructor() {
    /** @type {(string | undefined)[]} */
    this.before = [];
    /** @type {string | undefined} */
    this.cursor = undefined;
    /** @type {string | null} */
    this.next = null;
  }

  reset() {
    this.before = [];
    this.cursor = undefined;
    this.next = null;
  }

  forward() {
    if (this.next === null) return false;
    this.before.push(this.cursor);
    this.cursor = this.next;
    this.next = null;
    return true;
  }

  back() {
    if (this.before.length === 0) return false;
    this.cursor = this.before.pop();
    this.next = null;
    return true;
  }

  /**
   * @param {HTMLButtonElement} previous
   * @param {HTMLButtonElement} next
   */
  showButtons(previous, next) {
    previous.disabled = this.before.length === 0;
    next.disabled = this.next === null;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Events

const eventPages = new Pages();

const eventsPoller = new Poller(EVENTS_EVERY_MS, () =>
  reporting(page.events.status, async () => {
    const cursor = eventPages.cursor;
    const body = /** @type {Page<EventOverview>} */ (
      await getJson(withQuery('/v1/admin/events', { limit: String(PAGE_SIZE), cursor }))
    );
    // An answer for a page no longer shown is dropped; the poller asks for the new one next.
    if (eventPages.cursor !== cursor) return;
    eventPages.next = body.nextCursor;
    renderEvents(body.items);
  }),
);

/** @param {EventOverview[]} events */
function renderEvents(events) {
  eventPages.showButtons(page.events.previous, page.events.next);
  if (events.length === 0) {
    emptyRow(page.events.rows, 8, 'No events');
    return;
  }
  page.events.rows.replaceChildren(...events.map(eventRow));
}

/** @param {EventOverview} event */
function eventRow(event) {
  const open = h('button', { className: 'link', testId: 'events-name', title: `Open ${event.eventId}` }, event.name);
  open.type = 'button';
  const lastSale = h('td', { testId: 'events-last-sale' });
  showTime(lastSale, event.lastSaleAt, '—');
  const row = h(
    'tr',
    {},
    h('td', {}, open, h('div', { className: 'id' }, event.eventId)),
    h('td', { className: 'bar-col' }, seatBar(event)),
    numberCell(event.reservedSeats, 'events-reserved'),
    numberCell(event.heldSeats, 'events-held'),
    numberCell(event.availableSeats, 'events-available'),
    numberCell(event.totalSeats, 'events-total'),
    numberCell(event.seatsPerMinute, 'events-seats-per-minute'),
    lastSale,
  );
  row.dataset.eventId = event.eventId;
  row.classList.toggle('selected', event.eventId === live.eventId);
  // The button gives keyboard access; a click anywhere on the row opens the event too.
  row.addEventListener('click', () => openEvent(event.eventId, event.name));
  return row;
}

// ---------------------------------------------------------------------------------------------------------------
// One event, live

/** @type {{ eventId: string | undefined, counts: import('uplot') | undefined, available: import('uplot') | undefined }} */
const live = { eventId: undefined, counts: undefined, available: undefined };

const activityPoller = new Poller(ACTIVITY_EVERY_MS, () =>
  reporting(page.event.status, async () => {
    const eventId = live.eventId;
    if (eventId === undefined) return;
    const path = `/v1/admin/events/${encodeURIComponent(eventId)}/activity`;
    const body = /** @type {EventActivity} */ (await getJson(withQuery(path, { seconds: String(ACTIVITY_SECONDS) })));
    if (live.eventId !== eventId) return;
    renderActivity(body);
  }),
);

/**
 * @param {string} eventId
 * @param {string} name
 */
function openEvent(eventId, name) {
  if (live.eventId !== eventId) {
    destroyCharts();
    for (const figure of [
      page.event.available,
      page.event.reserved,
      page.event.held,
      page.event.total,
      page.event.seatsPerMinute,
      page.event.lastSale,
      page.event.sellOut,
    ]) {
      figure.replaceChildren();
    }
    page.event.status.textContent = '';
    delete page.event.activityChart.dataset.lastSecond;
  }
  live.eventId = eventId;
  page.event.section.dataset.eventId = eventId;
  page.event.title.textContent = name;
  page.event.section.hidden = false;
  for (const row of page.events.rows.querySelectorAll('tr')) {
    row.classList.toggle('selected', row.dataset.eventId === eventId);
  }
  activityPoller.start();
}

function closeEvent() {
  activityPoller.stop();
  live.eventId = undefined;
  destroyCharts();
  page.event.section.hidden = true;
  delete page.event.section.dataset.eventId;
  delete page.event.activityChart.dataset.lastSecond;
  for (const row of page.events.rows.querySelectorAll('tr.selected')) row.classList.remove('selected');
}

/** @param {EventActivity} activity */
function renderActivity(activity) {
  const { event, series } = activity;
  page.event.title.textContent = event.name;
  page.event.available.textContent = formatNumber(event.availableSeats);
  page.event.reserved.textContent = formatNumber(event.reservedSeats);
  page.event.held.textContent = formatNumber(event.heldSeats);
  page.event.total.textContent = formatNumber(event.totalSeats);
  page.event.seatsPerMinute.textContent = formatNumber(activity.seatsPerMinute);
  renderLastSale(activity);
  renderSellOut(activity);
  drawCharts(series);
  // The open event's line in the events list shows the same instant as the figures above, not the list's last poll.
  const { seatsPerMinute, netSeatsPerMinute, lastSaleAt } = activity;
  const row = [...page.events.rows.querySelectorAll('tr')].find((r) => r.dataset.eventId === event.eventId);
  row?.replaceWith(eventRow({ ...event, seatsPerMinute, netSeatsPerMinute, lastSaleAt }));
  const last = series.at.at(-1);
  if (last !== undefined) page.event.activityChart.dataset.lastSecond = String(last);
}

/** @param {EventActivity} activity */
function renderLastSale({ lastSaleAt, asOf }) {
  if (lastSaleAt === null) {
    page.event.lastSale.textContent = 'none yet';
    return;
  }
  const ago = (Date.parse(asOf) - Date.parse(lastSaleAt)) / 1000;
  page.event.lastSale.replaceChildren(timeElement(lastSaleAt), ` (${duration(ago)} ago)`);
}

/** @param {EventActivity} activity */
function renderSellOut({ estimatedSellOutAt, asOf, event, netSeatsPerMinute }) {
  if (estimatedSellOutAt !== null) {
    const inSeconds = (Date.parse(estimatedSellOutAt) - Date.parse(asOf)) / 1000;
    page.event.sellOut.replaceChildren(timeElement(estimatedSellOutAt), ` (in ${duration(inSeconds)})`);
  } else if (event.availableSeats === 0) {
    page.event.sellOut.textContent = 'sold out';
  } else {
    page.event.sellOut.textContent = netSeatsPerMinute > 0 ? '—' : 'not at this rate';
  }
}

const chartHeight = 200;

/** @param {HTMLElement} container */
const chartWidth = (container) => Math.max(320, container.clientWidth);

/** Both charts show the same seconds, and hovering one shows the same second on the other. */
const cursorSync = { sync: { key: 'ticketboss-activity' } };

/** @param {ActivitySeries} series */
function drawCharts(series) {
  /** @type {import('uplot').AlignedData} */
  const counts = [
    series.at,
    series.reservations,
    series.cancellations,
    series.holdsTaken,
    series.holdsExpired,
    series.holdsConfirmed,
  ];
  /** @type {import('uplot').AlignedData} */
  const available = [series.at, series.availableSeats];
  if (live.counts && live.available) {
    live.counts.setData(counts);
    live.available.setData(available);
    return;
  }
  const { activityChart, availableChart } = page.event;
  live.counts = new uPlot(
    {
      title: 'Per second, last 15 minutes',
      width: chartWidth(activityChart),
      height: chartHeight,
      cursor: cursorSync,
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      series: [
        {},
        { label: 'Reservations', stroke: '#1d7a3a', width: 1.5 },
        { label: 'Cancellations', stroke: '#b3261e', width: 1.5 },
        { label: 'Holds taken', stroke: '#c27c00', width: 1.5 },
        { label: 'Holds expired', stroke: '#7a5aa6', width: 1.5 },
        { label: 'Holds confirmed', stroke: '#1663a6', width: 1.5 },
      ],
      axes: [{}, { label: 'per second', size: 60 }],
    },
    counts,
    activityChart,
  );
  live.available = new uPlot(
    {
      title: 'Available seats',
      width: chartWidth(availableChart),
      height: chartHeight,
      cursor: cursorSync,
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      series: [{}, { label: 'Available seats', stroke: '#2f4f6f', fill: 'rgba(47, 79, 111, 0.12)', width: 1.5 }],
      axes: [{}, { label: 'seats', size: 60 }],
    },
    available,
    availableChart,
  );
}

function destroyCharts() {
  live.counts?.destroy();
  live.available?.destroy();
  live.counts = undefined;
  live.available = undefined;
}

const resizeCharts = new ResizeObserver(() => {
  live.counts?.setSize({ width: chartWidth(page.event.activityChart), height: chartHeight });
  live.available?.setSize({ width: chartWidth(page.event.availableChart), height: chartHeight });
});
resizeCharts.observe(page.event.section);

// ---------------------------------------------------------------------------------------------------------------
// Partners

const partnerPages = new Pages();

const partnersPoller = new Poller(PARTNERS_EVERY_MS, () =>
  reporting(page.partners.status, async () => {
    const cursor = partnerPages.cursor;
    const window = page.partners.window.value;
    const body = /** @type {Page<PartnerOverview>} */ (
      await getJson(withQuery('/v1/admin/partners', { window, limit: String(PAGE_SIZE), cursor }))
    );
    if (partnerPages.cursor !== cursor || page.partners.window.value !== window) return;
    partnerPages.next = body.nextCursor;
    renderPartners(body.items);
  }),
);

/** @param {PartnerOverview[]} partners */
function renderPartners(partners) {
  partnerPages.showButtons(page.partners.previous, page.partners.next);
  if (partners.length === 0) {
    emptyRow(page.partners.rows, 8, 'No partners');
    return;
  }
  page.partners.rows.replaceChildren(...partners.map(partnerRow));
}

/** @param {PartnerOverview} partner */
function partnerRow(partner) {
  const lastRequest = h('td', { testId: 'partner-last-request' });
  showTime(lastRequest, partner.lastRequestAt, 'none in this window');
  const row = h(
    'tr',
    {},
    h(
      'td',
      {},
      h('div', { className: 'name', testId: 'partner-name' }, partner.name),
      h('div', { className: 'id' }, partner.partnerId),
    ),
    numberCell(partner.requests, 'partner-requests'),
    numberCell(partner.reservations, 'partner-reservations'),
    numberCell(partner.seats, 'partner-seats'),
    numberCell(partner.refusals, 'partner-refusals'),
    numberCell(partner.rateLimited, 'partner-rate-limited'),
    lastRequest,
    h('td', { testId: 'partner-webhooks' }, failingWebhooks(partner.failingWebhooks)),
  );
  row.dataset.partnerId = partner.partnerId;
  return row;
}

/** @param {FailingWebhook[]} webhooks */
function failingWebhooks(webhooks) {
  if (webhooks.length === 0) return h('span', { className: 'quiet' }, 'none');
  return h('ul', { className: 'webhooks' }, ...webhooks.map(failingWebhook));
}

/** @param {FailingWebhook} webhook */
function failingWebhook(webhook) {
  const item = h('li', {}, h('code', { className: 'url' }, webhook.url));
  item.dataset.webhookId = webhook.webhookId;
  if (!webhook.enabled) {
    item.append(
      h('div', { className: 'error' }, `disabled${webhook.disabledReason ? `: ${webhook.disabledReason}` : ''}`),
    );
  }
  if (webhook.failingSince !== null) {
    item.append(h('div', {}, 'failing since ', timeElement(webhook.failingSince)));
  }
  if (webhook.lastError !== null) {
    const when = webhook.lastAttemptAt === null ? [] : [' at ', timeElement(webhook.lastAttemptAt)];
    item.append(h('div', { className: 'last-error' }, 'last error: ', h('span', {}, webhook.lastError), ...when));
  }
  return item;
}

// ---------------------------------------------------------------------------------------------------------------
// The token, and the page as a whole

const pollers = [eventsPoller, activityPoller, partnersPoller];

/** @param {string} message */
function showTokenForm(message) {
  for (const poller of pollers) poller.stop();
  closeEvent();
  // Nothing read with a token stays on the page once it is gone.
  page.events.rows.replaceChildren();
  page.partners.rows.replaceChildren();
  for (const status of [page.events.status, page.partners.status]) status.textContent = '';
  eventPages.reset();
  partnerPages.reset();
  page.console.hidden = true;
  page.forget.hidden = true;
  page.tokenForm.hidden = false;
  page.tokenMessage.textContent = message;
  page.tokenInput.value = '';
  page.tokenInput.focus();
}

function showConsole() {
  page.tokenForm.hidden = true;
  page.tokenMessage.textContent = '';
  page.console.hidden = false;
  page.forget.hidden = false;
  eventsPoller.start();
  partnersPoller.start();
}

/** @param {string} reason */
function refuseToken(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  showTokenForm(`Token refused: ${reason}`);
}

page.tokenForm.addEventListener('submit', (submit) => {
  // Never submitted for real: the token stays out of every URL (form-action 'none' refuses it anyway).
  submit.preventDefault();
  const token = page.tokenInput.value.trim();
  page.tokenInput.value = '';
  if (token === '') return;
  sessionStorage.setItem(TOKEN_KEY, token);
  showConsole();
});

page.forget.addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showTokenForm('');
});

page.events.next.addEventListener('click', () => {
  if (eventPages.forward()) eventsPoller.now();
});
page.events.previous.addEventListener('click', () => {
  if (eventPages.back()) eventsPoller.now();
});
page.event.close.addEventListener('click', closeEvent);
page.partners.next.addEventListener('click', () => {
  if (partnerPages.forward()) partnersPoller.now();
});
page.partners.previous.addEventListener('click', () => {
  if (partnerPages.back()) partnersPoller.now();
});
page.partners.window.addEventListener('change', () => {
  partnerPages.reset();
  partnersPoller.now();
});

// A tab shown again refreshes at once; a hidden one lets its timers lapse (Poller.now asks nothing while hidden).
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') for (const poller of pollers) poller.now();
});

if (sessionStorage.getItem(TOKEN_KEY) === null) showTokenForm('');
else showConsole();
