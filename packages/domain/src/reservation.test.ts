import { describe, expect, it } from 'vitest';
import { isReservationId, isValidPartnerId, isValidSeatCount } from './reservation.js';

describe('seat rules', () => {
  it.each([1, 5, 10])('accepts %s seats', (seats) => expect(isValidSeatCount(seats, 10)).toBe(true));
  it.each([0, 11, -1, 2.5, Number.NaN, Infinity])('refuses %s seats', (seats) =>
    expect(isValidSeatCount(seats, 10)).toBe(false),
  );
});

describe('partner ids', () => {
  it('accepts up to 64 characters, counted as characters rather than UTF-16 units', () => {
    expect(isValidPartnerId('a'.repeat(64))).toBe(true);
    expect(isValidPartnerId('🎟'.repeat(64))).toBe(true);
  });
  it.each(['', '   ', '\t\n', 'a'.repeat(65), 'a\u0000b'])('refuses %j', (id) =>
    expect(isValidPartnerId(id)).toBe(false),
  );
});

describe('reservation ids', () => {
  it('are UUIDs', () => {
    expect(isReservationId('550e8400-e29b-41d4-a716-446655440000')).toBe(true);
    expect(isReservationId('550E8400-E29B-41D4-A716-446655440000')).toBe(true);
    expect(isReservationId('not-a-uuid')).toBe(false);
    expect(isReservationId("1' OR '1'='1")).toBe(false);
  });
});
