import { describe, expect, it } from 'vitest';
import { addressClass, isPublicAddress, refusedAddressReason } from './addresses.js';

describe('isPublicAddress', () => {
  it.each([
    ['8.8.8.8'],
    ['1.1.1.1'],
    ['93.184.215.14'],
    ['2606:4700:4700::1111'],
    ['2001:4860:4860::8888'],
    ['[2606:4700:4700::1111]'],
    ['::ffff:8.8.8.8'],
  ])('allows the public address %s', (address) => {
    expect(isPublicAddress(address)).toBe(true);
    expect(refusedAddressReason(address)).toBeUndefined();
  });

  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.1.2.3', 'loopback'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['fe80::1', 'linkLocal'],
    ['fe80::1%eth0', 'linkLocal'],
    ['fd00:ec2::254', 'uniqueLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['100.127.255.254', 'carrierGradeNat'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['192.0.2.1', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['::7f00:1', 'ipv4Compatible'],
    ['[::a9fe:a9fe]', 'ipv4Compatible'],
  ])('refuses %s (%s)', (address, range) => {
    expect(addressClass(address)).toBe(range);
    expect(isPublicAddress(address)).toBe(false);
    expect(refusedAddressReason(address)).toMatch(new RegExp(`^${address.replace(/[[\].]/g, '\\$&')} is an? `));
  });

  it.each([
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'linkLocal'],
    ['::ffff:10.1.2.3', 'private'],
    ['[::ffff:192.168.0.1]', 'private'],
  ])('unwraps the IPv4-mapped IPv6 address %s (%s) and refuses it', (address, range) => {
    expect(addressClass(address)).toBe(range);
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each([
    ['64:ff9b::7f00:1', 'rfc6052'],
    ['2002:7f00:1::', '6to4'],
    ['2001::1', 'teredo'],
  ])('refuses the translation and tunnelling range of %s (%s), which can hide any IPv4 address', (address, range) => {
    expect(addressClass(address)).toBe(range);
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each([['localhost'], ['example.com'], [''], ['300.1.1.1'], ['1.2.3.4.5'], ['::g']])(
    'refuses %j, which is not an IP address',
    (address) => {
      expect(isPublicAddress(address)).toBe(false);
      expect(refusedAddressReason(address)).toBe(`${address} is not an IP address`);
    },
  );

  it.each([['127.1'], ['0x7f.0.0.1'], ['2130706433'], ['0177.0.0.1']])(
    'reads the shorthand %s as the system would, as a loopback address',
    (address) => {
      expect(addressClass(address)).toBe('loopback');
      expect(isPublicAddress(address)).toBe(false);
    },
  );

  it('words the reason for an error message', () => {
    expect(refusedAddressReason('127.0.0.1')).toBe('127.0.0.1 is a loopback address');
    expect(refusedAddressReason('169.254.169.254')).toBe('169.254.169.254 is a link-local address');
    expect(refusedAddressReason('fd00:ec2::254')).toBe('fd00:ec2::254 is a unique local (private) address');
    expect(refusedAddressReason('64:ff9b::1')).toBe('64:ff9b::1 is a special-purpose (rfc6052) address');
  });
});
