import { describe, expect, it } from 'vitest';
import { ON_DEMAND_SCREENS, screensFor } from './screenPrecache';

describe('screensFor', () => {
  it('gives an officer none of the on-demand screens', () => {
    expect(screensFor(['staff'])).toEqual([]);
  });
  it('gives a coordinator every screen but Administration', () => {
    expect(screensFor(['staff', 'coordinator']).sort()).toEqual(Object.keys(ON_DEMAND_SCREENS).filter((n) => n !== 'admin').sort());
  });
  it('gives an administrator Administration, a supervisor Incidents and Declare, a peer supporter requests and shifts', () => {
    expect(screensFor(['admin'])).toEqual(['admin']);
    expect(screensFor(['supervisor']).sort()).toEqual(['declare', 'incidents']);
    expect(screensFor(['peer_supporter']).sort()).toEqual(['requests', 'shifts']);
  });
  it('leaves "Talk to a peer" and Debriefings to the shell, on every device', () => {
    const modules = Object.values(ON_DEMAND_SCREENS).map((s) => s.module);
    expect(modules).not.toContain('src/screens/ReachOutScreen.tsx');
    expect(modules).not.toContain('src/screens/DebriefsScreen.tsx');
  });
});
