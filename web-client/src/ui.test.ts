//! Unit tests of what the screens rely on: invitation codes from links, when the iOS install guide
//! shows, and dialable crisis line numbers.

import { describe, expect, it } from 'vitest';
import { dialable } from './config';
import { codeFrom } from './invitation';
import { needsInstallGuide } from './screens/InstallGuide';

describe('invitation links', () => {
  it('give their code from the fragment, a pasted link or a bare code', () => {
    expect(codeFrom('#DgUEboG-B4yiBOXjRy-qNw')).toBe('DgUEboG-B4yiBOXjRy-qNw');
    expect(codeFrom(' https://relay.example.org/enrol#DgUEboG-B4yiBOXjRy-qNw \n')).toBe('DgUEboG-B4yiBOXjRy-qNw');
    expect(codeFrom('DgUEboG-B4yiBOXjRy-qNw')).toBe('DgUEboG-B4yiBOXjRy-qNw');
    expect(codeFrom('')).toBe('');
    expect(codeFrom('#')).toBe('');
  });
});

describe('the iOS install guide', () => {
  const iphone = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
  const android = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36';
  it('shows in iOS Safari until the app is on the Home Screen, never elsewhere', () => {
    expect(needsInstallGuide(iphone, false)).toBe(true);
    expect(needsInstallGuide(iphone, true)).toBe(false);
    expect(needsInstallGuide(android, false)).toBe(false);
  });
});

describe('crisis line numbers', () => {
  it('keep digits and + for tel: and sms: links', () => {
    expect(dialable('1-206-459-3020')).toBe('12064593020');
    expect(dialable('+1 (800) 267-5463')).toBe('+18002675463');
    expect(dialable('988')).toBe('988');
  });
});
